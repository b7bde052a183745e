"""Train a small PyTorch model on a dataset shard-convert made, read two ways:

  streaming  Mosaic Streaming's StreamingDataset and a DataLoader
  stream     the shard stream of a shell pipeline, through shardstream.py's
             ShardStreamDataset: whole batches as tensors, each DataLoader
             worker reading its own share (shard-shuffle --rank/--world)

The dataset is the bundled Spark export converted with its features packed:

    shard-convert --header --schema "$(cat examples/spark-export.schema)" \\
        --pack 'features=f00,f01,f02,f03,f04,f05,f06,f07:float32' -o DS examples/spark-export
    python examples/train_torch.py DS --reader both --check examples/spark-export

The model runs on the GPU when there is one and on the CPU otherwise. With
--check, the first epoch's tensors are compared with the rows of the CSV
export itself: every id exactly once, features bit for bit, labels equal.
"""
import argparse
import csv
import glob
import gzip
import io
import os
import shutil
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shardstream import ShardStreamDataset  # noqa: E402


def streaming_loader(ds_dir, batch, workers, epoch_seed):
    # its samples are views of read-only shard bytes, which torch warns about
    warnings.filterwarnings('ignore', message='The given NumPy array is not writable')
    from streaming import StreamingDataset
    from streaming.base.util import clean_stale_shared_memory
    clean_stale_shared_memory()
    # StreamingDataset unpacks shards beside the originals: give it a copy
    local = tempfile.mkdtemp(prefix='train-torch-')
    shutil.rmtree(local)
    shutil.copytree(ds_dir, local)
    ds = StreamingDataset(local=local, batch_size=batch, shuffle=True, shuffle_seed=epoch_seed)
    loader = DataLoader(ds, batch_size=batch, num_workers=workers)
    return loader, local


def stream_loader(ds_dir, batch, workers, seed, epoch):
    cmd = (f'shard-cat -q {ds_dir} -o - | shard-shuffle -q - --seed {seed} --epoch {epoch} '
           '--rank {rank} --world {world} -o -')
    ds = ShardStreamDataset(cmd, batch_size=batch, columns=['features', 'label', 'id'])
    return DataLoader(ds, batch_size=None, num_workers=workers)


def read_truth(export_dir):
    """id -> (features as float32[8], label) from the CSV export's own text."""
    truth = {}
    for part in sorted(glob.glob(os.path.join(export_dir, 'part-*'))):
        opener = gzip.open if part.endswith('.gz') else open
        with opener(part, 'rb') as f:
            rows = csv.reader(io.TextIOWrapper(f, 'utf-8', newline=''), escapechar='\\', doublequote=False)
            header = next(rows)
            ix = [header.index(f'f{j:02d}') for j in range(8)]
            for r in rows:
                feats = np.array([np.float32(r[i]) for i in ix], np.float32)
                truth[int(r[header.index('id')])] = (feats, int(r[header.index('label')]))
    return truth


def check(seen, truth, name):
    ids = np.concatenate([s[0] for s in seen])
    feats = np.concatenate([s[1] for s in seen])
    labels = np.concatenate([s[2] for s in seen])
    if len(ids) != len(truth) or set(ids.tolist()) != set(truth):
        sys.exit(f'{name}: read {len(ids)} rows ({len(set(ids.tolist()))} distinct ids), '
                 f'the export has {len(truth)}')
    want = np.stack([truth[i][0] for i in ids.tolist()])
    if not np.array_equal(want.view(np.uint32), feats.view(np.uint32)):
        bad = np.nonzero((want.view(np.uint32) != feats.view(np.uint32)).any(axis=1))[0][0]
        sys.exit(f'{name}: id {ids[bad]}: features {feats[bad]} differ from the export\'s {want[bad]}')
    if not np.array_equal(np.array([truth[i][1] for i in ids.tolist()]), labels):
        sys.exit(f'{name}: labels differ from the export')
    print(f'{name}: checked {len(ids)} rows against the export: features and labels equal')


def train(name, make_loader, epochs, device, truth, lr):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        loader, cleanup = make_loader(epoch)
        seen, total, correct, loss_sum, t0 = [], 0, 0, 0.0, time.time()
        try:
            for batch in loader:
                x = batch['features'].to(device, non_blocking=True)
                y = batch['label'].to(device, non_blocking=True).long()
                if epoch == 0 and truth is not None:
                    seen.append((batch['id'].numpy().copy(), batch['features'].numpy().copy(),
                                 batch['label'].numpy().copy()))
                out = model(x)
                loss = loss_fn(out, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += len(y)
                loss_sum += loss.item() * len(y)
                correct += (out.argmax(1) == y).sum().item()
        finally:
            if cleanup:
                shutil.rmtree(cleanup, ignore_errors=True)
        print(f'{name}: epoch {epoch}: {total} samples, loss {loss_sum / max(total, 1):.4f}, '
              f'accuracy {correct / max(total, 1):.4f}, {total / (time.time() - t0):.0f} samples/s')
        if epoch == 0 and truth is not None:
            check(seen, truth, name)
    return correct / max(total, 1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('dataset')
    p.add_argument('--reader', choices=['streaming', 'stream', 'both'], default='both')
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--workers', type=int, default=0, help='DataLoader workers')
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--check', metavar='EXPORT', help='compare the tensors with this CSV export\'s rows')
    p.add_argument('--min-accuracy', type=float, default=0.0,
                   help='fail unless the last epoch reaches this training accuracy')
    a = p.parse_args()
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    print(f'device: {device}')
    truth = read_truth(a.check) if a.check else None
    ds = os.path.abspath(a.dataset)
    runs = []
    if a.reader in ('streaming', 'both'):
        runs.append(('streaming', lambda e: streaming_loader(ds, a.batch, a.workers, a.seed + e)))
    if a.reader in ('stream', 'both'):
        runs.append(('stream', lambda e: (stream_loader(ds, a.batch, a.workers, a.seed, e), None)))
    for name, make in runs:
        acc = train(name, make, a.epochs, device, truth, a.lr)
        if acc < a.min_accuracy:
            sys.exit(f'{name}: training accuracy {acc:.4f} is below {a.min_accuracy}')


if __name__ == '__main__':
    main()
