"""Writes examples/reference-mds with Mosaic Streaming's own MDSWriter: the golden
dataset the bats tests read (run with the interop virtual environment's python)."""
import sys

import numpy as np
from streaming import MDSWriter

out = sys.argv[1] if len(sys.argv) > 1 else 'examples/reference-mds'
cols = {'number': 'int', 'words': 'str', 'f': 'float32', 'arr': 'ndarray:float32:2,3',
        'd': 'float64', 'b': 'bytes'}
with MDSWriter(out=out, columns=cols, compression='zstd', hashes=['sha1', 'xxh64'],
               size_limit=2000) as w:
    for i in range(50):
        w.write({'number': i - 25, 'words': 'héllo %d "q"' % i, 'f': np.float32(i / 3),
                 'arr': np.arange(6, dtype=np.float32).reshape(2, 3) * i, 'd': i * 0.1,
                 'b': bytes([i, 0, 255])})
