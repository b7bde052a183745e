"""Builds one hostile input of the catalogue (see cases) in the current
directory: make.py CASE. Every input lies about a size or is no regular file;
the large ones (sparse files, a zstd bomb) are made here, at test time, and
nothing large is committed. Stdlib only, plus zstd(1) and shard-convert(1)."""
import json
import os
import struct
import subprocess
import sys

M = (1 << 64) - 1
P1, P2, P3, P4, P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                      0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5)


def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M


def xxh_round(acc, lane):
    return rotl((acc + lane * P2) & M, 31) * P1 & M


def xxh64(data):
    """XXH64, seed 0: a shard stream frame's checksum (shard-stream(5))."""
    n, i = len(data), 0
    if n >= 32:
        v = [(P1 + P2) & M, P2, 0, (-P1) & M]
        while i + 32 <= n:
            for k in range(4):
                v[k] = xxh_round(v[k], struct.unpack_from('<Q', data, i + 8 * k)[0])
            i += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M
        for k in range(4):
            h = ((h ^ xxh_round(0, v[k])) * P1 + P4) & M
    else:
        h = P5
    h = (h + n) & M
    while i + 8 <= n:
        h ^= xxh_round(0, struct.unpack_from('<Q', data, i)[0])
        h = (rotl(h, 27) * P1 + P4) & M
        i += 8
    if i + 4 <= n:
        h ^= struct.unpack_from('<I', data, i)[0] * P1 & M
        h = (rotl(h, 23) * P2 + P3) & M
        i += 4
    while i < n:
        h ^= data[i] * P5 & M
        h = rotl(h, 11) * P1 & M
        i += 1
    h ^= h >> 33
    h = h * P2 & M
    h ^= h >> 29
    h = h * P3 & M
    return h ^ (h >> 32)


def raw_shard(values):
    """A raw MDS shard of uint8 samples in one column x."""
    config = json.dumps({'column_encodings': ['uint8'], 'column_names': ['x'], 'column_sizes': [1],
                         'compression': None, 'format': 'mds', 'hashes': [], 'size_limit': None,
                         'version': 2}, sort_keys=True).encode()
    head = 8 + 4 * len(values) + len(config)
    offsets = [head + k for k in range(len(values) + 1)]
    return struct.pack('<%dI' % (len(offsets) + 1), len(values), *offsets) + config + bytes(values)


def entry(raw_bytes, samples, compression=None, zip_bytes=None):
    ext = compression.split(':')[0] if compression else None
    return {'column_encodings': ['uint8'], 'column_names': ['x'], 'column_sizes': [1],
            'compression': compression, 'format': 'mds', 'hashes': [],
            'raw_data': {'basename': 'shard.00000.mds', 'bytes': raw_bytes, 'hashes': {}},
            'samples': samples, 'size_limit': None, 'version': 2,
            'zip_data': None if not compression else
            {'basename': 'shard.00000.mds.' + ext, 'bytes': zip_bytes, 'hashes': {}}}


def dataset(e, files=None):
    """ds/ with one shard entry e and the given files ({name: bytes})."""
    os.makedirs('ds', exist_ok=True)
    for name, data in (files or {}).items():
        with open(os.path.join('ds', name), 'wb') as f:
            f.write(data)
    with open('ds/index.json', 'w') as f:
        json.dump({'shards': [e], 'version': 2}, f, sort_keys=True)


def frame(tag, meta, data=b''):
    meta = json.dumps(meta, sort_keys=True).encode()
    body = tag + struct.pack('<IQ', len(meta), len(data)) + meta + data
    return body + struct.pack('<Q', xxh64(body))


def stream(e, data, stored='raw'):
    """A whole stream of one shard frame, its end frame true to it."""
    with open('stream', 'wb') as f:
        f.write(b'SHRDSTRM' + struct.pack('<II', 1, 0))
        f.write(frame(b'SHRD', {'entry': e, 'stored': stored}, data))
        f.write(frame(b'END.', {'bytes': len(data), 'samples': e['samples'], 'shards': 1}))


def stream_head(mlen, dlen, tail):
    """A stream whose first frame's lengths are mlen and dlen, followed by tail only."""
    with open('stream', 'wb') as f:
        f.write(b'SHRDSTRM' + struct.pack('<II', 1, 0) + b'SHRD' + struct.pack('<IQ', mlen, dlen) + tail)


def zstd_bomb(gib):
    """gib GiB of zeros through zstd(1): about 32 KiB a GiB."""
    p = subprocess.run(['zstd', '-q', '-1', '-c'], input=None, stdout=subprocess.PIPE, check=True,
                       stdin=subprocess.Popen(['head', '-c', '%dM' % int(gib * 1024), '/dev/zero'],
                                              stdout=subprocess.PIPE).stdout)
    return p.stdout


def codec_dataset(codec):
    """A real shard of about 4 MiB of text (compressing well) through shard-convert."""
    with open('rows.csv', 'w') as f:
        for k in range(2000):
            f.write('%d,%s\n' % (k, 'a' * 2000))
    subprocess.run(['shard-convert', '-q', '-s', 'n:int64,s:str', '-c', codec, '--hashes', 'none',
                    '--size-limit', '64MiB', '-o', 'ds', 'rows.csv'], check=True)
    os.remove('rows.csv')


def edit_index(fn):
    with open('ds/index.json') as f:
        ix = json.load(f)
    fn(ix['shards'][0])
    with open('ds/index.json', 'w') as f:
        json.dump(ix, f, sort_keys=True)


ONE = raw_shard([7])


def case(name):
    if name == 'samples-claim':
        # a 180-byte shard of one sample claims 10^8
        dataset(entry(len(ONE), 10 ** 8), {'shard.00000.mds': ONE})
    elif name == 'samples-max':
        dataset(entry(2 ** 32 - 1, 2 ** 32 - 1), {'shard.00000.mds': ONE})
    elif name == 'zip-samples-claim':
        # a small zstd shard claiming a raw size and count no zstd file its size holds
        z = subprocess.run(['zstd', '-q', '-c'], input=ONE, stdout=subprocess.PIPE, check=True).stdout
        dataset(entry(400 * 10 ** 6 + 8, 10 ** 8, 'zstd', len(z)), {'shard.00000.mds.zstd': z})
    elif name == 'sparse-larger':
        # 3 GiB of holes where the index lists 180 bytes
        dataset(entry(len(ONE), 1))
        with open('ds/shard.00000.mds', 'wb') as f:
            f.truncate(3 << 30)
    elif name == 'sparse-claimed':
        dataset(entry(3 << 30, 1))
        with open('ds/shard.00000.mds', 'wb') as f:
            f.truncate(3 << 30)
    elif name == 'dev-zero':
        dataset(entry(len(ONE), 1))
        os.symlink('/dev/zero', 'ds/shard.00000.mds')
    elif name == 'fifo':
        dataset(entry(len(ONE), 1))
        os.mkfifo('ds/shard.00000.mds')
    elif name == 'fifo-index':
        os.makedirs('ds')
        os.mkfifo('ds/index.json')
    elif name == 'zstd-bomb':
        # 1.5 GiB of zeros in about 48 KiB, the index saying 180 bytes
        z = zstd_bomb(1.5)
        dataset(entry(len(ONE), 1, 'zstd', len(z)), {'shard.00000.mds.zstd': z})
    elif name in ('gz-bomb', 'bz2-bomb', 'br-bomb', 'snappy-bomb'):
        # a real 4 MiB shard whose entry says 1000 bytes
        codec_dataset(name.split('-')[0])

        def lie(e):
            e['raw_data']['bytes'] = 1000
            e['samples'] = 1
        edit_index(lie)
    elif name == 'frame-huge':
        stream_head(10, (5 << 30) - 1, b'{"a": 1}xx')
    elif name == 'frame-lie':
        # a frame saying 1 GiB of data, 100 bytes sent
        stream_head(2, 1 << 30, b'{}' + bytes(100))
    elif name == 'frame-meta-lie':
        stream_head(64 << 20, 0, b'{"entry": ')
    elif name == 'frame-samples':
        stream(entry(len(ONE), 10 ** 8), ONE)
    elif name == 'frame-bomb':
        z = zstd_bomb(1.5)
        stream(entry(len(ONE), 1, 'zstd', len(z)), z, 'zip')
    elif name in ('buffer-huge', 'batch-pad-huge'):
        # an honest stream and dataset of 4000 samples
        with open('rows.csv', 'w') as f:
            for k in range(4000):
                f.write('%d\n' % k)
        subprocess.run(['shard-convert', '-q', '-s', 'n:int64', '-o', 'ds', 'rows.csv'], check=True)
        with open('stream', 'wb') as f:
            subprocess.run(['shard-cat', 'ds', '-o', '-'], stdout=f, check=True)
    else:
        sys.exit('make.py: no case ' + name)


if __name__ == '__main__':
    case(sys.argv[1])
