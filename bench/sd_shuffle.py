"""StreamingDataset with shuffle=True over a local MDS dataset: iterates the first
LIMIT samples of epoch 0 (0: all) and prints 'samples seconds_iterating total'.
usage: sd_shuffle.py DATASET_DIR LIMIT"""
import shutil
import sys
import tempfile
import time

from streaming import StreamingDataset

from sd_stop import stop


def main():
    remote, limit = sys.argv[1], int(sys.argv[2])
    local = tempfile.mkdtemp()
    ds = StreamingDataset(remote=remote, local=local, shuffle=True, shuffle_seed=7, batch_size=1,
                          predownload=1000)
    t = time.perf_counter()
    n = 0
    samples = iter(ds)
    for sample in samples:
        n += len(sample) > 0
        if n == limit:
            break
    secs = time.perf_counter() - t
    # the download thread is still filling LOCAL: end it before LOCAL goes
    samples.close()
    stop(ds)
    shutil.rmtree(local)
    print(n, secs, len(ds))


if __name__ == '__main__':
    main()
