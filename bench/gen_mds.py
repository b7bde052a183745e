"""Writes the benchmark dataset with Mosaic Streaming's own MDSWriter.

usage: gen_mds.py OUT_DIR NUM_SAMPLES [JOBS [SEED]]

Columns: 20 float32 (f00..f19) and an int64 'label', so 88 raw bytes a sample.
zstd compression, hashes ['xxh64'], the default size_limit.

Values are drawn per chunk with numpy; the per-row loop only builds a dict and
calls writer.write, so the rate printed is essentially MDSWriter's own.

With JOBS > 1 the samples are split into JOBS contiguous parts, each written by
its own MDSWriter in its own process (MDSWriter is single-threaded and
Python-bound); the parts' shards are then renamed into OUT_DIR in order
(shard.00000.mds.zstd, ...) and index.json lists them in that order.  The shard
files are byte for byte what MDSWriter wrote: a shard does not contain its own
name, and the index entries are MDSWriter's own with only the basenames changed
(what streaming.base.util.merge_index does, minus the subdirectories).
"""
import json
import multiprocessing
import os
import shutil
import sys
import time

NFEAT = 20
CHUNK = 1 << 16


def write_part(out, n, seed):
    import numpy as np
    from streaming import MDSWriter

    names = ['f%02d' % j for j in range(NFEAT)]
    cols = {name: 'float32' for name in names}
    cols['label'] = 'int64'
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    with MDSWriter(out=out, columns=cols, compression='zstd', hashes=['xxh64']) as w:
        write = w.write
        done = 0
        while done < n:
            m = min(CHUNK, n - done)
            # Normal noise in f00..f14; f15..f19 rounded to quarters (few distinct values),
            # so zstd has something to find, as in real tabular data.
            feats = rng.standard_normal((m, NFEAT), dtype=np.float32)
            feats[:, 15:] = np.round(feats[:, 15:] * 4) / 4
            labels = rng.integers(0, 10, m, dtype=np.int64)
            # Python scalars: MDS's scalar encoding is dtype(obj).tobytes() either way.
            for row, lab in zip(feats.tolist(), labels.tolist()):
                d = dict(zip(names, row))
                d['label'] = lab
                write(d)
            done += m
    return n, time.perf_counter() - t0


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1234
    jobs = max(1, min(jobs, n))
    if os.path.exists(out):
        shutil.rmtree(out)
    t0 = time.perf_counter()
    if jobs == 1:
        results = [write_part(out, n, seed)]
        parts = [out]
    else:
        parts = [os.path.join(out, '.part%d' % j) for j in range(jobs)]
        counts = [n // jobs + (1 if j < n % jobs else 0) for j in range(jobs)]
        ctx = multiprocessing.get_context('spawn')
        with ctx.Pool(jobs) as pool:
            results = pool.starmap(write_part,
                                   [(parts[j], counts[j], seed + j) for j in range(jobs)])
    wall = time.perf_counter() - t0

    if jobs == 1:
        with open(os.path.join(out, 'index.json')) as f:
            shards = json.load(f)['shards']
    else:
        # Part j's shards follow part j-1's, renumbered from 0.
        shards = []
        k = 0
        for part in parts:
            with open(os.path.join(part, 'index.json')) as f:
                for shard in json.load(f)['shards']:
                    for key in ('raw_data', 'zip_data'):
                        info = shard.get(key)
                        if not info:
                            continue
                        ext = info['basename'].split('.', 2)[2]  # 'mds' or 'mds.zstd'
                        src = os.path.join(part, info['basename'])
                        info['basename'] = 'shard.%05d.%s' % (k, ext)
                        if os.path.exists(src):
                            os.rename(src, os.path.join(out, info['basename']))
                    shards.append(shard)
                    k += 1
            shutil.rmtree(part)
        with open(os.path.join(out, 'index.json'), 'w') as f:
            json.dump({'version': 2, 'shards': shards}, f, sort_keys=True)

    rbytes = sum(s['raw_data']['bytes'] for s in shards)
    zbytes = sum(s['zip_data']['bytes'] for s in shards)
    per = ', '.join('%.0f' % (c / t) for c, t in results)
    print('generated %d samples in %d shards (%.1f MiB uncompressed shards, %.1f MiB zstd) '
          'in %.1f s with %d MDSWriter process(es): %.0f rows/s in all; rows/s per process: %s'
          % (n, len(shards), rbytes / 2**20, zbytes / 2**20, wall, jobs, n / wall, per))


if __name__ == '__main__':
    main()
