"""A small reader of the shard stream (shard-stream(5)) for PyTorch.

It turns each shard of a stream into column arrays with one vectorised view
(no Python work per sample) and yields whole batches as tensors:

    from shardstream import ShardStreamDataset
    ds = ShardStreamDataset(
        'shard-cat DS -o - | shard-shuffle - --seed 1 --rank {rank} --world {world} -o -',
        batch_size=256, columns=['features', 'label'])
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    for batch in loader:        # {'features': [256, 8] float32, 'label': [256] int32}
        ...

The source is a stream file's path, '-' for stdin, or else a shell command
that writes a stream on stdout. In a command, {rank} and {world} are filled in
for each DataLoader worker of each distributed rank (rank * workers + worker
of world * workers), so the workers read disjoint shares and together read
everything once. Without them, or from a file, every process reads the whole
stream and keeps every world-th shard.

Only fixed-size columns can be batched: the numbers and ndarray columns with
a dtype and shape, which is what shard-convert's --pack makes; the shards may
hold other columns besides. Frame checksums
(XXH64) are checked when the xxhash module is there (Mosaic Streaming brings
it); shard files are decompressed with the codec the entry names.
"""
import bz2
import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np

MAGIC = b'SHRDSTRM'
_NUMERIC = {
    'uint8': '<u1', 'uint16': '<u2', 'uint32': '<u4', 'uint64': '<u8',
    'int8': '<i1', 'int16': '<i2', 'int32': '<i4', 'int64': '<i8', 'int': '<i8',
    'float16': '<f2', 'float32': '<f4', 'float64': '<f8',
}


class StreamError(Exception):
    """The stream is malformed, truncated or corrupt."""


def column_dtype(encoding):
    """The numpy dtype of one sample of a fixed-size MDS column, or None."""
    if encoding in _NUMERIC:
        return np.dtype(_NUMERIC[encoding])
    parts = encoding.split(':')
    if parts[0] == 'ndarray' and len(parts) == 3 and parts[1] in _NUMERIC:
        shape = tuple(int(x) for x in parts[2].split(','))
        return np.dtype((_NUMERIC[parts[1]], shape))
    return None


def _decompress(name, data):
    algo = (name or '').split(':')[0]
    if algo == 'zstd':
        import zstd
        return zstd.decompress(data)
    if algo == 'gz':
        return zlib.decompress(data, 31)
    if algo == 'bz2':
        return bz2.decompress(data)
    if algo == 'br':
        import brotli
        return brotli.decompress(data)
    if algo == 'snappy':
        import snappy
        return snappy.decompress(data)
    raise StreamError(f'unknown compression {name!r}')


def _read_exact(f, n, what):
    buf = f.read(n)
    if len(buf) != n:
        raise StreamError(f'stream cut short in {what}')
    return buf


def frames(f):
    """(entry, raw MDS shard bytes) for each shard frame of a binary file."""
    try:
        import xxhash
        hasher = xxhash.xxh64_intdigest
    except ImportError:  # frames are then taken on trust
        hasher = None
    nframe = 0
    while True:
        head = f.read(16)
        if not head:
            return
        if len(head) != 16 or head[:8] != MAGIC:
            raise StreamError('not a shard stream (bad header)')
        version, _flags = struct.unpack('<II', head[8:])
        if version != 1:
            raise StreamError(f'stream version {version} is not supported')
        while True:
            fh = _read_exact(f, 16, f'frame {nframe}')
            tag, mlen, dlen = fh[:4], *struct.unpack('<IQ', fh[4:])
            meta = _read_exact(f, mlen, f'frame {nframe}')
            data = _read_exact(f, dlen, f'frame {nframe}')
            (check,) = struct.unpack('<Q', _read_exact(f, 8, f'frame {nframe}'))
            if hasher:
                h = xxhash.xxh64(fh)
                h.update(meta)
                h.update(data)
                if h.intdigest() != check:
                    raise StreamError(f'frame {nframe}: checksum mismatch')
            nframe += 1
            if tag == b'END.':
                break
            if tag != b'SHRD':
                raise StreamError(f'frame {nframe - 1}: unknown tag {tag!r}')
            m = json.loads(meta)
            entry = m['entry']
            if m['stored'] == 'zip':
                data = _decompress(entry['compression'], data)
            yield entry, data


def shard_columns(entry, raw, columns=None):
    """The chosen columns of one raw MDS shard as numpy arrays of all its
    samples, by vectorised views of its bytes (no Python work per sample).
    The chosen columns must have a fixed size; others may be of any kind."""
    names, encs = entry['column_names'], entry['column_encodings']
    n = struct.unpack_from('<I', raw, 0)[0]
    offsets = np.frombuffer(raw, '<u4', n + 1, 4).astype(np.int64)
    dtypes = [column_dtype(e) for e in encs]
    want = columns or [c for c, d in zip(names, dtypes) if d is not None]
    for c in want:
        if c not in names:
            raise StreamError(f'no column {c!r} (the shard has {", ".join(names)})')
        if dtypes[names.index(c)] is None:
            raise StreamError(f'column {c!r} is {encs[names.index(c)]}, which has no fixed size')
    nvar = sum(1 for d in dtypes if d is None)
    if not nvar:
        # every sample has the same layout: one structured view of them all
        size = sum(d.itemsize for d in dtypes)
        if n and (offsets[-1] - offsets[0] != n * size or np.any(np.diff(offsets) != size)):
            raise StreamError(f'shard samples are not {size} bytes each')
        pos, fields = 0, {}
        for name, d in zip(names, dtypes):
            fields[name] = (d, pos)
            pos += d.itemsize
        rec = np.dtype({'names': list(want), 'formats': [fields[c][0] for c in want],
                        'offsets': [fields[c][1] for c in want], 'itemsize': size})
        rows = np.frombuffer(raw, rec, n, int(offsets[0]) if n else 0)
        return {c: rows[c] for c in want}
    # variable-size columns: each sample starts with their sizes; a column's
    # place is the sum of the sizes before it, computed for all samples at once
    buf = np.frombuffer(raw, np.uint8)
    starts = offsets[:-1]
    if n and (offsets[-1] > len(raw) or np.any(np.diff(offsets) < 4 * nvar)):
        raise StreamError('shard sample offsets are out of bounds')
    sizes = buf[starts[:, None] + np.arange(4 * nvar)].view('<u4').reshape(n, nvar).astype(np.int64)
    out, pos, k = {}, starts + 4 * nvar, 0
    for name, d in zip(names, dtypes):
        if d is None:
            pos = pos + sizes[:, k]
            k += 1
            continue
        if name in want:
            if n and np.any(pos + d.itemsize > offsets[1:]):
                raise StreamError(f'column {name!r} runs past the end of its sample')
            out[name] = buf[pos[:, None] + np.arange(d.itemsize)].view(d.base).reshape((n,) + d.shape)
        pos = pos + d.itemsize
    return {c: out[c] for c in want}


def batches(stream_frames, batch_size, columns=None, drop_last=False, take=None):
    """Dicts of contiguous numpy arrays, batch_size samples each, from
    (entry, raw) frames; take(i) says whether to keep the i-th shard."""
    pending, have = [], 0
    for i, (entry, raw) in enumerate(stream_frames):
        if take is not None and not take(i):
            continue
        cols = shard_columns(entry, raw, columns)
        n = len(next(iter(cols.values()))) if cols else 0
        start = 0
        if pending and have + n >= batch_size:
            need = batch_size - have
            pending.append({c: a[:need] for c, a in cols.items()})
            yield {c: np.concatenate([p[c] for p in pending]) for c in cols}
            pending, have, start = [], 0, need
        while n - start >= batch_size and not pending:
            yield {c: np.ascontiguousarray(a[start:start + batch_size]) for c, a in cols.items()}
            start += batch_size
        if start < n:
            pending.append({c: a[start:] for c, a in cols.items()})
            have += n - start
    if pending and not drop_last:
        yield {c: np.concatenate([p[c] for p in pending]) for c in pending[0]}


def _share():
    """(rank, world) of this process among all DataLoader workers of all ranks."""
    try:
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():
            rank, world = dist.get_rank(), dist.get_world_size()
        else:
            rank, world = int(os.environ.get('RANK', 0)), int(os.environ.get('WORLD_SIZE', 1))
        from torch.utils.data import get_worker_info
        info = get_worker_info()
    except ImportError:
        rank, world, info = 0, 1, None
    if info is not None:
        rank, world = rank * info.num_workers + info.id, world * info.num_workers
    return rank, world


try:
    import torch
    from torch.utils.data import IterableDataset
except ImportError:  # the reader works without torch, as numpy arrays
    torch, IterableDataset = None, object


class ShardStreamDataset(IterableDataset):
    """Batches of tensors from a shard stream: source is a shell command with
    {rank} and {world} in it, a stream file's path, or '-' for stdin."""

    def __init__(self, source, batch_size, columns=None, drop_last=False, as_numpy=False):
        super().__init__()
        self.source, self.batch_size, self.columns = source, batch_size, columns
        self.drop_last, self.as_numpy = drop_last, as_numpy

    def _convert(self, batch):
        if self.as_numpy or torch is None:
            return batch
        return {c: torch.from_numpy(a) for c, a in batch.items()}

    def __iter__(self):
        rank, world = _share()
        src = self.source
        split = '{rank}' in src or '{world}' in src
        # the command splits the data itself, or each process takes every
        # world-th shard of the whole stream
        take = None if split or world == 1 else (lambda i: i % world == rank)
        if src != '-' and not os.path.exists(src):
            cmd = src.format(rank=rank, world=world) if split else src
            proc = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE)
            try:
                for b in batches(frames(proc.stdout), self.batch_size, self.columns, self.drop_last, take):
                    yield self._convert(b)
            finally:
                proc.stdout.close()
                status = proc.wait()
            if status:
                raise StreamError(f'{cmd!r} exited with status {status}')
            return
        f = sys.stdin.buffer if src == '-' else open(src, 'rb')
        try:
            for b in batches(frames(f), self.batch_size, self.columns, self.drop_last, take):
                yield self._convert(b)
        finally:
            if f is not sys.stdin.buffer:
                f.close()


def main(argv):
    """shardstream.py [-b N] [-c COLS] SOURCE: print batch shapes, a check."""
    import argparse
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument('source')
    p.add_argument('-b', '--batch', type=int, default=1024)
    p.add_argument('-c', '--columns')
    a = p.parse_args(argv)
    cols = a.columns.split(',') if a.columns else None
    n = 0
    for b in ShardStreamDataset(a.source, a.batch, cols, as_numpy=True):
        n += len(next(iter(b.values())))
    print(f'{n} samples')


if __name__ == '__main__':
    main(sys.argv[1:])
