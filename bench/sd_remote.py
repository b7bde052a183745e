"""Iterates a dataset on S3 with Mosaic Streaming's StreamingDataset and its own
S3 client (boto3; S3_ENDPOINT_URL and the AWS_* variables name the server).

usage: sd_remote.py REMOTE LOCAL_CACHE_DIR

StreamingDataset(remote=REMOTE, local=LOCAL_CACHE_DIR, shuffle=False,
batch_size=1), every sample touched. Prints one JSON line: samples, bytes of
the data column, and seconds spent constructing and iterating.
"""
import json
import sys
import time

from streaming import StreamingDataset

from sd_stop import stop


def main():
    remote, local = sys.argv[1:3]
    t0 = time.perf_counter()
    ds = StreamingDataset(remote=remote, local=local, shuffle=False, batch_size=1)
    t1 = time.perf_counter()
    n = nbytes = 0
    for sample in ds:
        nbytes += len(sample['data'])
        n += 1
    t2 = time.perf_counter()
    stop(ds)
    print(json.dumps({'samples': n, 'total': len(ds), 'bytes': nbytes, 'init_s': t1 - t0, 'iter_s': t2 - t1}))


if __name__ == '__main__':
    main()
