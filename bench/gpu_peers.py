"""Python loaders for bench/gpu.sh, each timed into batch tensors of the
features (20 float32 columns) and the label:

  gpu_peers.py stream DS BATCH        examples/shardstream.py over `shard-cat DS -o -`
  gpu_peers.py streaming DS BATCH WORKERS LIMIT
                                      StreamingDataset + DataLoader(batch_size=BATCH)

Prints 'SAMPLES SECONDS STARTUP' on its last line: the samples read, the
seconds the loop took, and the seconds before the first batch (imports and
construction included) for scaling a subset to the whole dataset.
"""
import os
import shutil
import sys
import tempfile
import time
import warnings

t_start = time.time()
mode, ds, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

cols = [f'f{j:02d}' for j in range(20)] + ['label']

if mode == 'stream':
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'examples'))
    from shardstream import ShardStreamDataset
    loader = DataLoader(ShardStreamDataset(f'shard-cat -q {ds} -o -', batch, cols), batch_size=None)
    limit, local = None, None
else:
    warnings.filterwarnings('ignore', message='The given NumPy array is not writable')
    from streaming import StreamingDataset
    from streaming.base.util import clean_stale_shared_memory
    workers, limit = int(sys.argv[4]), int(sys.argv[5])
    clean_stale_shared_memory()
    local = tempfile.mkdtemp(prefix='gpu-peers-')
    os.rmdir(local)
    os.makedirs(local)
    for f in os.listdir(ds):  # a cold copy: StreamingDataset unpacks shards beside their originals
        os.link(os.path.join(ds, f), os.path.join(local, f))
    sd = StreamingDataset(local=local, batch_size=batch, shuffle=False)
    loader = DataLoader(sd, batch_size=batch, num_workers=workers)
    from sd_stop import stop

n, t0, first = 0, None, None
batches = iter(loader)
for b in batches:
    if t0 is None:
        t0 = time.time()
        first = t0 - t_start
    x = torch.stack([b[c] for c in cols[:-1]], 1)  # the [batch, 20] features tensor
    y = b['label']
    assert x.shape[0] == y.shape[0]
    n += len(y)
    if limit and n >= limit:
        break
t = time.time() - t0 if t0 else 0.0
if local:
    # StreamingDataset's download threads (in this process or in the workers) still
    # fill LOCAL: end them before LOCAL goes
    stop(sd, batches)
    shutil.rmtree(local)
print(n, t, first)
