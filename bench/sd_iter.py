"""Iterates a local MDS dataset with Mosaic Streaming's StreamingDataset.

usage: sd_iter.py DATASET_DIR LIMIT [PREDOWNLOAD]

StreamingDataset(local=DATASET_DIR, shuffle=False, batch_size=1), a plain for
loop over it touching every sample dict.  LIMIT > 0 stops after that many
samples (the caller scales the iteration time up to the whole dataset); 0 reads
them all.  PREDOWNLOAD, when given, is passed on (the default is
8 * batch_size = 8, which throttles a local read: see bench/README.md).

Prints one JSON line: samples read, dataset samples, and seconds spent
importing, constructing and iterating.
"""
import time

t0 = time.perf_counter()
import json  # noqa: E402
import sys  # noqa: E402

from streaming import StreamingDataset  # noqa: E402

from sd_stop import stop  # noqa: E402


def main():
    local, limit = sys.argv[1], int(sys.argv[2])
    kwargs = {}
    if len(sys.argv) > 3 and sys.argv[3] not in ('', 'default'):
        kwargs['predownload'] = int(sys.argv[3])
    t1 = time.perf_counter()
    ds = StreamingDataset(local=local, shuffle=False, batch_size=1, **kwargs)
    total = len(ds)
    t2 = time.perf_counter()
    n = 0
    acc = 0
    for sample in ds:
        acc += len(sample)  # touch the dict (every column was already decoded into it)
        n += 1
        if n == limit:
            break
    t3 = time.perf_counter()
    # Stopping early leaves StreamingDataset's download threads running for the rest of
    # the epoch; end them, or the interpreter waits for them at exit and the caller
    # removes the copy under them.
    stop(ds)
    print(json.dumps({'samples': n, 'total': total, 'columns_touched': acc,
                      'import_s': t1 - t0, 'init_s': t2 - t1, 'iter_s': t3 - t2}))


if __name__ == '__main__':
    main()
