"""Writes the S3 benchmark's dataset with Mosaic Streaming's MDSWriter: SAMPLES
samples of an int64 id and BYTES bytes of random (incompressible) data, as
images or token blocks are, uncompressed, in shards of SHARD bytes.

usage: s3_gen.py DIR SAMPLES BYTES SHARD
"""
import os
import sys

from streaming import MDSWriter


def main():
    out, n, size, shard = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    with MDSWriter(out=out, columns={'id': 'int64', 'data': 'bytes'}, size_limit=shard) as w:
        for i in range(n):
            w.write({'id': i, 'data': os.urandom(size)})


if __name__ == '__main__':
    main()
