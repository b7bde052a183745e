"""Train a small PyTorch model on a dataset shard-convert made, read two ways:

  streaming  Mosaic Streaming's StreamingDataset and a DataLoader
  stream     the shard stream of a shell pipeline, through shardstream.py's
             ShardStreamDataset: whole batches as tensors, each DataLoader
             worker reading its own share (shard-shuffle --rank/--world)

The columns come from the dataset's index.json: the label is --label
(default 'label'), and the features are --features (default: every numeric
column but the label and --id: integers, floats, bool, and ndarray columns
with a shape, such as shard-convert --pack makes; not dates, timestamps,
strings or decimals). A nullable feature (shard-mds(5), Nulls) counts as 0
where it is null, and its validity, 0 or 1, is one more input; a row whose
label is null is left out of the loss. An integer or bool label is a class
(0 to --classes - 1), a float label a regression target.

For the bundled Spark export:

    shard-convert --header --schema "$(cat examples/spark-export.schema)" \\
        --pack 'features=f00,f01,f02,f03,f04,f05,f06,f07:float32' -o DS examples/spark-export
    python examples/train_torch.py DS --reader both \\
        --check examples/spark-export --pack features=f00,f01,f02,f03,f04,f05,f06,f07

The model runs on the GPU when there is one and on the CPU otherwise. With
--check, the first epoch's inputs are compared with the rows of the CSV
export itself: every id exactly once, the model's inputs bit for bit, labels
equal (--pack names the export columns that a packed column holds).
"""
import argparse
import csv
import gc
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
from shardkit_types import ShardkitTypes, load_index  # noqa: E402
from shardstream import ShardStreamDataset, column_dtype  # noqa: E402


class Columns:
    """Which columns the model reads, and how a batch becomes its inputs."""

    def __init__(self, ds_dir, features=None, label='label', id_column='id'):
        index = load_index(ds_dir)
        shard = index['shards'][0]
        self.encodings = dict(zip(shard['column_names'], shard['column_encodings']))
        self.types = ShardkitTypes(index)
        numeric = [c for c, e in self.encodings.items()
                   if column_dtype(e) is not None and not self.types.is_validity(c)
                   and self.types.logical_types.get(c) not in ('date', 'timestamp')]
        if label not in self.encodings:
            sys.exit(f'no label column {label!r} in the dataset; name one with --label')
        if label not in numeric:
            sys.exit(f'label column {label!r} is {self.encodings[label]}, not a number')
        self.label = label
        self.id = id_column if id_column in numeric else None
        self.features = features or [c for c in numeric if c not in (label, self.id)]
        for c in self.features:
            if c not in numeric:
                sys.exit(f'feature column {c!r} is not a numeric column of the dataset (numeric: {", ".join(numeric)})')
        if not self.features:
            sys.exit('no feature columns; name them with --features')
        self.widths = [int(np.prod(column_dtype(self.encodings[c]).shape)) for c in self.features]
        self.width = sum(self.widths) + sum(self.types.nullable(c) for c in self.features)
        self.regression = column_dtype(self.encodings[label]).kind == 'f'
        self.wanted = self.features + [label] + ([self.id] if self.id else [])
        self.read = self.types.columns_with_validity(self.wanted)  # with the validity columns

    def inputs(self, batch):
        """(x float32 [B, width], y, rows to learn from) of a batch of tensors."""
        masks = self.types.masks(batch)
        parts = []
        for c in self.features:
            v = batch[c].reshape(len(batch[c]), -1).float()
            if c in masks:
                ok = masks[c].reshape(-1, 1)
                parts += [torch.where(ok, v, torch.zeros_like(v)), ok.float()]
            else:
                parts.append(v)
        y = batch[self.label]
        y = y.float() if self.regression else y.long()
        keep = masks.get(self.label, torch.ones(len(y), dtype=torch.bool))
        return torch.cat(parts, 1), y, keep


def stop_streaming(ds):
    """Stop the download threads of a StreamingDataset iterated in this process
    (it has no public close; an iteration left early keeps them running)."""
    it = getattr(ds, '_iterator', None)
    if it is not None:
        it.exit()
    executor = getattr(ds, '_executor', None)
    if executor is not None:
        executor.shutdown(wait=True)


class StreamingReader:
    """Mosaic's StreamingDataset over the dataset, through a local cache of its
    own that is removed only once no reader uses it: StreamingDataset
    unpacks shards into its local directory, never beside the originals."""

    def __init__(self, ds_dir, columns, batch, workers, seed):
        # its samples are views of read-only shard bytes, which torch warns about
        warnings.filterwarnings('ignore', message='The given NumPy array is not writable')
        from streaming import StreamingDataset
        from streaming.base.util import clean_stale_shared_memory
        clean_stale_shared_memory()
        self.local = tempfile.mkdtemp(prefix='train-torch-')
        self.ds = StreamingDataset(remote=ds_dir, local=self.local, batch_size=batch, shuffle=True,
                                   shuffle_seed=seed)
        self.loader = DataLoader(self.ds, batch_size=batch, num_workers=workers,
                                 collate_fn=columns.types.collate(columns.wanted))

    def epoch(self, epoch):
        return self.loader  # StreamingDataset reshuffles for each new iteration

    def close(self):
        stop_streaming(self.ds)
        shutil.rmtree(self.local, ignore_errors=True)


class StreamReader:
    """The shard stream of shard-cat | shard-shuffle, reshuffled each epoch."""

    def __init__(self, ds_dir, columns, batch, workers, seed):
        self.ds_dir, self.columns, self.batch, self.workers, self.seed = ds_dir, columns, batch, workers, seed

    def epoch(self, epoch):
        cmd = (f'shard-cat -q {self.ds_dir} -o - | shard-shuffle -q - --seed {self.seed} --epoch {epoch} '
               '--rank {rank} --world {world} -o -')
        ds = ShardStreamDataset(cmd, batch_size=self.batch, columns=self.columns.read)
        return DataLoader(ds, batch_size=None, num_workers=self.workers)

    def close(self):
        pass


def parse_value(text, encoding):
    """An export field as the number the dataset holds (None for null)."""
    if text == '':
        return None
    if text.lower() in ('true', 'false'):
        return 1 if text.lower() == 'true' else 0
    kind = column_dtype(encoding).base
    return kind.type(text) if kind.kind == 'f' else int(text)


def read_truth(export_dir, columns, packs):
    """id -> (the model's inputs as float32, label) from the CSV export's own
    text, by the same rules as Columns.inputs."""
    truth = {}
    parts = [export_dir] if os.path.isfile(export_dir) else sorted(glob.glob(os.path.join(export_dir, 'part-*')))
    for part in parts:
        opener = gzip.open if part.endswith('.gz') else open
        with opener(part, 'rb') as f:
            rows = csv.reader(io.TextIOWrapper(f, 'utf-8', newline=''), escapechar='\\', doublequote=False)
            header = next(rows)
            for name in [columns.id, columns.label] + columns.features:
                if name not in header and name not in packs:
                    sys.exit(f'--check: the export has no column {name!r}; if it was packed, give --pack {name}=COLS')
            for r in rows:
                row = dict(zip(header, r))
                x = []
                for c in columns.features:
                    enc = columns.encodings[c]
                    texts = [row[k] for k in packs[c]] if c in packs else [row[c]]
                    vals = [parse_value(t, enc) for t in texts]
                    if columns.types.nullable(c):
                        x += [0.0] * len(vals) + [0.0] if vals[0] is None else vals + [1.0]
                    else:
                        x += vals
                label = parse_value(row[columns.label], columns.encodings[columns.label])
                truth[int(row[columns.id])] = (np.array(x, np.float32), label)
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
        sys.exit(f'{name}: id {ids[bad]}: inputs {feats[bad]} differ from the export\'s {want[bad]}')
    want = [truth[i][1] for i in ids.tolist()]
    if any(w is not None and w != g for w, g in zip(want, labels.tolist())):
        sys.exit(f'{name}: labels differ from the export')
    print(f'{name}: checked {len(ids)} rows against the export: features and labels equal')


def train(name, reader, columns, epochs, device, truth, lr, classes):
    torch.manual_seed(0)
    outputs = 1 if columns.regression else classes
    model = nn.Sequential(nn.Linear(columns.width, 32), nn.ReLU(), nn.Linear(32, outputs)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss() if columns.regression else nn.CrossEntropyLoss()
    score = 0.0
    try:
        for epoch in range(epochs):
            seen, total, correct, loss_sum, t0 = [], 0, 0, 0.0, time.time()
            batches = iter(reader.epoch(epoch))
            try:
                for batch in batches:
                    x, y, keep = columns.inputs(batch)
                    if epoch == 0 and truth is not None:
                        seen.append((batch[columns.id].numpy().copy(), x.numpy().copy(), y.numpy().copy()))
                    x, y = x[keep].to(device, non_blocking=True), y[keep].to(device, non_blocking=True)
                    if not columns.regression and len(y) and (y.min() < 0 or y.max() >= classes):
                        sys.exit(f'{name}: label {int(y.max())} is not a class of 0..{classes - 1}; pass --classes')
                    out = model(x)
                    loss = loss_fn(out.squeeze(1), y) if columns.regression else loss_fn(out, y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += len(y)
                    loss_sum += loss.item() * len(y)
                    if not columns.regression:
                        correct += (out.argmax(1) == y).sum().item()
            finally:
                del batches  # DataLoader workers shut down here, before anything is removed
                gc.collect()
            score = loss_sum / max(total, 1) if columns.regression else correct / max(total, 1)
            print(f'{name}: epoch {epoch}: {total} samples, loss {loss_sum / max(total, 1):.4f}, '
                  + ('' if columns.regression else f'accuracy {score:.4f}, ')
                  + f'{total / (time.time() - t0):.0f} samples/s')
            if epoch == 0 and truth is not None:
                check(seen, truth, name)
    finally:
        reader.close()
    return score


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('dataset')
    p.add_argument('--reader', choices=['streaming', 'stream', 'both'], default='both')
    p.add_argument('--features', help='comma-separated feature columns (default: every numeric column '
                                      'but the label and --id)')
    p.add_argument('--label', default='label', help='the label column (default: label)')
    p.add_argument('--id', default='id', help='a row id column, left out of the features (default: id)')
    p.add_argument('--classes', type=int, default=2, help='classes of an integer label (default: 2)')
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--workers', type=int, default=0, help='DataLoader workers')
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--check', metavar='EXPORT', help='compare the inputs with the rows of this CSV export '
                                                    '(a directory of part files with headers, or one file)')
    p.add_argument('--pack', action='append', default=[], metavar='NAME=COL,...',
                   help='for --check: the export columns a packed column holds (repeatable)')
    p.add_argument('--min-accuracy', type=float, default=0.0,
                   help='fail unless the last epoch reaches this training accuracy')
    a = p.parse_args()
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    print(f'device: {device}')
    ds = os.path.abspath(a.dataset)
    columns = Columns(ds, a.features.split(',') if a.features else None, a.label, a.id)
    print(f'features: {", ".join(columns.features)} ({columns.width} inputs); label: {columns.label} '
          f'({"regression" if columns.regression else f"{a.classes} classes"})')
    truth = None
    if a.check:
        if columns.id is None:
            sys.exit(f'--check needs an id column; the dataset has no numeric column {a.id!r}')
        packs = dict((k, v.split(',')) for k, v in (x.split('=', 1) for x in a.pack))
        truth = read_truth(a.check, columns, packs)
    readers = {'streaming': StreamingReader, 'stream': StreamReader}
    for name in (['streaming', 'stream'] if a.reader == 'both' else [a.reader]):
        reader = readers[name](ds, columns, a.batch, a.workers, a.seed)
        score = train(name, reader, columns, a.epochs, device, truth, a.lr, a.classes)
        if not columns.regression and score < a.min_accuracy:
            sys.exit(f'{name}: training accuracy {score:.4f} is below {a.min_accuracy}')


if __name__ == '__main__':
    main()
