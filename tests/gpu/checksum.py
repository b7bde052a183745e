"""The batch checksums shard-gpu-bench(1) should report, computed here from a
CSV file's text, independently of shardkit's readers:

    checksum.py BATCH FILE.csv NAME=DTYPE:COL[,COL...] ...

Each NAME is a batch column built from the CSV columns COL (0-based), packed
side by side as DTYPE (several columns make an ndarray column). Prints one
JSON object {NAME: "hex"}: per column, the sum over batches of the sum of
w[j] * (2j + 1) over the little-endian 32-bit words of the batch's buffer,
zero-padded to 4 bytes, all modulo 2^64.
"""
import csv
import json
import sys

import numpy as np


def colsum(buf):
    buf += b'\0' * (-len(buf) % 4)
    w = np.frombuffer(buf, '<u4').astype(np.uint64)
    j = np.arange(len(w), dtype=np.uint64)
    with np.errstate(over='ignore'):
        return int((w * (2 * j + 1)).sum(dtype=np.uint64))


def main():
    batch, path, specs = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    with open(path, newline='') as f:
        rows = list(csv.reader(f))
    out = {}
    for spec in specs:
        name, rest = spec.split('=')
        dtype, cols = rest.split(':')
        cols = [int(c) for c in cols.split(',')]
        parse = float if dtype.startswith('float') else int
        values = np.array([[parse(r[c]) for c in cols] for r in rows]).astype('<' + np.dtype(dtype).str[1:])
        total = 0
        for k in range(0, len(rows), batch):
            total = (total + colsum(values[k:k + batch].tobytes())) % 2**64
        out[name] = '%016x' % total
    print(json.dumps(out, sort_keys=True))


main()
