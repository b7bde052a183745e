#!/usr/bin/env python3
"""Reference side of the shardkit interop tests, built on Mosaic Streaming.

Commands:

  mds_reference.py write OUTDIR [CASE ...]
      Write reference MDS datasets with streaming.MDSWriter, one subdirectory
      of OUTDIR per case (all cases when none are named). An existing case
      subdirectory is replaced. OUTDIR/cases.txt lists the cases written.
      Cases the installed streaming version cannot write are skipped with a
      note on stderr.

  mds_reference.py dump DIR
      Read the dataset DIR with streaming.StreamingDataset and print one JSON
      object per sample per line, in the text form of
      `shard-cat --format jsonl`, so the two can be compared with diff.

  mds_reference.py dump-all REFDIR OUTDIR
      dump for every case named in REFDIR/cases.txt, into OUTDIR/CASE.jsonl,
      in one process (importing Streaming takes seconds).

  mds_reference.py check DIR EXPECTED.jsonl [DIR EXPECTED.jsonl ...]
      Read the dataset DIR with streaming.StreamingDataset and check that
      every sample equals the matching line of EXPECTED.jsonl, value by value.
      Exits 1 with a message at the first difference. Several pairs may be
      given; they are checked in order.

  mds_reference.py list
      Print the names of all cases, one per line.

  mds_reference.py selftest
      Check the number formatting of this script against Python and NumPy.

Both dump and check never modify DIR: the dataset is read with DIR as the
"remote" and a temporary directory as the "local" cache, so Streaming copies
(and, for compressed shards, decompresses) the files there and validates the
hash it is given. In addition, every hash the index records (raw and
compressed, all algorithms), every recorded byte count and the shard header
(sample count, offsets) are checked independently.

The text form (shared with shard-cat):
  * one compact JSON object per sample, keys in the MDS column order (sorted
    column names), no spaces, UTF-8 output; strings escape only '"' '\\'
    (as \\" \\\\), newline, carriage return and tab (\\n \\r \\t), other
    control characters and DEL as \\u00XX (lowercase hex);
  * int, int8..uint64, str_int: JSON integers;
  * float16/32/64, str_float: the shortest text that reads back to the same
    value at the column's own width, laid out as Python's repr does
    (positional for 1e-4 <= |v| < 1e16, else like 1e-05 / 1.5e+16, integral
    values keep ".0"); NaN, Infinity, -Infinity as bare tokens; -0.0 kept;
  * str: a JSON string; str_decimal: a JSON string of the stored text;
  * bytes, pil, jpeg, png, pkl: a JSON string, standard base64 (padded) of
    the bytes stored for the field;
  * list[pil], list[jpeg], list[png], jpeg_array: a JSON array of base64
    strings, one per stored element;
  * json: the decoded value in the same compact form (object keys in stored
    order, numbers as above);
  * ndarray: nested JSON arrays, each element formatted for its dtype.
"""

import base64
import json
import math
import os
import re
import shutil
import sys
import tempfile
import zlib
from decimal import Decimal, InvalidOperation

# ---------------------------------------------------------------------------
# Text formatting (no third-party imports needed here except numpy for the
# narrow float widths).

_ESCAPES = {'"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t'}
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f\x7f\ud800-\udfff]')



def streaming_dataset(cls, **kwargs):
    """StreamingDataset, retried: it names its shared memory by probing for a
    free prefix, and another process creating one at the same moment (tests run
    in parallel) can take it between the probe and the creation."""
    import time
    for attempt in range(20):
        try:
            return cls(**kwargs)
        except FileExistsError:
            if attempt == 19:
                raise
            time.sleep(0.2 + 0.1 * attempt)

def _escape_char(m):
    ch = m.group(0)
    return _ESCAPES.get(ch) or '\\u%04x' % ord(ch)


def fmt_str(s):
    """A JSON string literal with the minimal escaping described above."""
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, s) + '"'


def _layout(neg, digits, exp):
    """Python-repr layout of the decimal digits d0.d1d2... x 10**exp."""
    if -4 <= exp < 16:
        if exp < 0:
            body = '0.' + '0' * (-exp - 1) + digits
        else:
            ip = digits[:exp + 1].ljust(exp + 1, '0')
            body = ip + '.' + (digits[exp + 1:] or '0')
    else:
        body = digits[0]
        if len(digits) > 1:
            body += '.' + digits[1:]
        body += 'e%s%02d' % ('-' if exp < 0 else '+', abs(exp))
    return ('-' if neg else '') + body


def _np():
    import numpy
    return numpy


def fmt_float(v, bits=64):
    """Shortest round-trip text of v as a float of the given width."""
    f = float(v)
    if math.isnan(f):
        return 'NaN'
    if math.isinf(f):
        return 'Infinity' if f > 0 else '-Infinity'
    if bits == 64:
        return repr(f)
    if f == 0.0:
        return '-0.0' if math.copysign(1.0, f) < 0 else '0.0'
    np = _np()
    x = np.float32(v) if bits == 32 else np.float16(v)
    if float(x) != f:
        raise ValueError('%r is not a float%d value' % (v, bits))
    s = np.format_float_scientific(x, unique=True, trim='-')
    mant, _, exp = s.partition('e')
    neg = mant.startswith('-')
    digits = mant.lstrip('-').replace('.', '').rstrip('0') or '0'
    return _layout(neg, digits, int(exp))


def fmt_json_value(o):
    """A decoded json column value in the compact text form."""
    if o is None:
        return 'null'
    if o is True:
        return 'true'
    if o is False:
        return 'false'
    if isinstance(o, int):
        return str(o)
    if isinstance(o, float):
        return fmt_float(o, 64)
    if isinstance(o, str):
        return fmt_str(o)
    if isinstance(o, (list, tuple)):
        return '[' + ','.join(fmt_json_value(x) for x in o) + ']'
    if isinstance(o, dict):
        return '{' + ','.join(fmt_str(k) + ':' + fmt_json_value(v) for k, v in o.items()) + '}'
    raise TypeError('unexpected json value type %s' % type(o).__name__)


_ND_FLOAT_BITS = {'float16': 16, 'float32': 32, 'float64': 64}
_ND_INT = {'uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'uint64', 'int64'}


def fmt_ndarray(arr):
    name = arr.dtype.name
    if name in _ND_FLOAT_BITS:
        bits = _ND_FLOAT_BITS[name]
        np = _np()
        cast = np.float32 if bits == 32 else np.float16 if bits == 16 else float
        scalar = lambda x: fmt_float(cast(x), bits)  # noqa: E731
    elif name in _ND_INT:
        scalar = lambda x: str(int(x))  # noqa: E731
    else:
        raise ValueError('ndarray of unsupported dtype %s' % name)

    def rec(x):
        if isinstance(x, list):
            return '[' + ','.join(rec(y) for y in x) + ']'
        return scalar(x)

    return rec(arr.tolist())


def b64(data):
    return base64.b64encode(bytes(data)).decode('ascii')


# ---------------------------------------------------------------------------
# Encodings, grouped by how they are printed and compared.

INT_ENCODINGS = {'int', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64'}
FLOAT_ENCODINGS = {'float16': 16, 'float32': 32, 'float64': 64}
BINARY_ENCODINGS = {'bytes', 'pil', 'jpeg', 'png', 'pkl'}
LIST_ENCODINGS = {'list[pil]': 4, 'list[jpeg]': 4, 'list[png]': 4, 'jpeg_array': 0, 'jpegarray': 0}
IMAGE_ENCODINGS = {'pil', 'jpeg', 'png', 'list[pil]', 'list[jpeg]', 'list[png]', 'jpeg_array',
                   'jpegarray'}


def enc_kind(enc):
    if enc in INT_ENCODINGS:
        return 'int'
    if enc in FLOAT_ENCODINGS:
        return 'float'
    if enc in BINARY_ENCODINGS:
        return 'binary'
    if enc in LIST_ENCODINGS:
        return 'list'
    if enc == 'ndarray' or enc.startswith('ndarray:'):
        return 'ndarray'
    if enc in ('str', 'str_int', 'str_float', 'str_decimal', 'json'):
        return enc
    raise ValueError('unknown encoding %r' % enc)


class DataError(Exception):
    pass


def split_fields(data, sizes):
    """Cut one sample's bytes into its fields (column order), exactly."""
    pos = 0
    lens = []
    for size in sizes:
        if size:
            lens.append(size)
        else:
            if pos + 4 > len(data):
                raise DataError('sample too short for its size prefixes')
            lens.append(int.from_bytes(data[pos:pos + 4], 'little'))
            pos += 4
    fields = []
    for n in lens:
        if pos + n > len(data):
            raise DataError('sample too short: fields need %d more bytes' % (pos + n - len(data)))
        fields.append(bytes(data[pos:pos + n]))
        pos += n
    if pos != len(data):
        raise DataError('sample has %d bytes after its last field' % (len(data) - pos))
    return fields


def split_list(field, skip):
    """Elements of a list[...] (skip=4: placeholder word) or jpeg_array field."""
    if len(field) < skip + 4:
        raise DataError('list field too short for its count')
    count = int.from_bytes(field[skip:skip + 4], 'little')
    pos = skip + 4
    if pos + 4 * count > len(field):
        raise DataError('list field too short for %d element sizes' % count)
    sizes = [int.from_bytes(field[pos + 4 * i:pos + 4 * i + 4], 'little') for i in range(count)]
    pos += 4 * count
    out = []
    for n in sizes:
        if pos + n > len(field):
            raise DataError('list field too short for its elements')
        out.append(field[pos:pos + n])
        pos += n
    if pos != len(field):
        raise DataError('list field has %d bytes after its last element' % (len(field) - pos))
    return out


def touch_images(enc, value):
    """Make PIL decode the pixels, so bad image bytes fail here."""
    if enc in ('jpeg', 'png', 'pil'):
        value.load()
    elif enc in IMAGE_ENCODINGS:
        for im in value:
            im.load()


def format_field(enc, value, raw):
    """Text of one field: value is Streaming's decoded object, raw the stored bytes."""
    kind = enc_kind(enc)
    if kind == 'int' or kind == 'str_int':
        return str(int(value))
    if kind == 'float':
        return fmt_float(value, FLOAT_ENCODINGS[enc])
    if kind == 'str_float':
        return fmt_float(value, 64)
    if kind == 'str':
        return fmt_str(value)
    if kind == 'str_decimal':
        text = raw.decode('utf-8')
        if Decimal(text).compare_total(value) != 0:
            raise DataError('decoded Decimal %s differs from stored text %r' % (value, text))
        return fmt_str(text)
    if kind == 'json':
        return fmt_json_value(value)
    if kind == 'ndarray':
        return fmt_ndarray(value)
    if kind == 'binary':
        if enc == 'bytes' and bytes(value) != raw:
            raise DataError('decoded bytes differ from stored bytes')
        return '"' + b64(raw) + '"'
    if kind == 'list':
        items = split_list(raw, LIST_ENCODINGS[enc])
        if len(items) != len(value):
            raise DataError('decoded list has %d elements, stored %d' % (len(value), len(items)))
        return '[' + ','.join('"' + b64(x) + '"' for x in items) + ']'
    raise AssertionError(kind)


# ---------------------------------------------------------------------------
# Value-wise comparison for `check`.

def _same_float(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _as_width(x, bits):
    """The JSON number x rounded to a float of the given width."""
    np = _np()
    with np.errstate(over='ignore'):
        if bits == 64:
            return float(x)
        return float(np.float32(x) if bits == 32 else np.float16(x))


def _json_equal(a, b):
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return type(a) is type(b) and a == b
    if _is_number(a) and _is_number(b):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        return _same_float(float(a), float(b))
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return False


def _nested_shape(x):
    """Shape of a rectangular nested list of numbers, or None."""
    if not isinstance(x, list):
        return ()
    if not x:
        return None
    shapes = [_nested_shape(y) for y in x]
    if any(s is None for s in shapes) or any(s != shapes[0] for s in shapes):
        return None
    return (len(x),) + shapes[0]


def _flatten(x):
    if isinstance(x, list):
        for y in x:
            yield from _flatten(y)
    else:
        yield x


def _b64decode(x):
    if not isinstance(x, str):
        raise DataError('expected a base64 string, found %s' % json.dumps(x)[:80])
    try:
        return base64.b64decode(x.encode('ascii'), validate=True)
    except (ValueError, UnicodeEncodeError) as e:
        raise DataError('expected text is not valid base64 (%s)' % e) from None


def compare_field(enc, value, raw, expected):
    """None when the decoded value matches the expected JSON value, else why not."""
    kind = enc_kind(enc)
    if kind in ('int', 'str_int'):
        if not isinstance(expected, int) or isinstance(expected, bool):
            return 'expected value is not an integer'
        return None if expected == int(value) else 'values differ'
    if kind in ('float', 'str_float'):
        if not _is_number(expected):
            return 'expected value is not a number'
        bits = FLOAT_ENCODINGS.get(enc, 64)
        return None if _same_float(_as_width(expected, bits), float(value)) else 'values differ'
    if kind == 'str':
        if not isinstance(expected, str):
            return 'expected value is not a string'
        return None if expected == value else 'strings differ'
    if kind == 'str_decimal':
        if not isinstance(expected, str):
            return 'expected value is not a string'
        try:
            want = Decimal(expected)
        except InvalidOperation:
            return 'expected text is not a decimal'
        return None if want.compare_total(value) == 0 else 'decimals differ'
    if kind == 'json':
        return None if _json_equal(expected, value) else 'json values differ'
    if kind == 'ndarray':
        shape = _nested_shape(expected)
        if shape is None:
            return 'expected value is not a rectangular nested array'
        if tuple(shape) != tuple(value.shape):
            return 'shapes differ: expected %s, got %s' % (shape, tuple(value.shape))
        name = value.dtype.name
        for i, (e, g) in enumerate(zip(_flatten(expected), value.reshape(-1).tolist())):
            if not _is_number(e):
                return 'expected element %d is not a number' % i
            if name in _ND_FLOAT_BITS:
                ok = _same_float(_as_width(e, _ND_FLOAT_BITS[name]), float(g))
            else:
                ok = isinstance(e, int) and e == int(g)
            if not ok:
                return 'element %d (flat index) differs: expected %s, got %s' % (
                    i, json.dumps(e), fmt_ndarray(value.reshape(-1)[i:i + 1]))
        return None
    if kind == 'binary':
        if enc == 'bytes' and bytes(value) != raw:
            return 'decoded bytes differ from stored bytes'
        want = _b64decode(expected)
        if want == raw:
            return None
        return 'bytes differ (expected %d bytes, stored %d)' % (len(want), len(raw))
    if kind == 'list':
        items = split_list(raw, LIST_ENCODINGS[enc])
        if not isinstance(expected, list):
            return 'expected value is not a list'
        if len(items) != len(value):
            return 'decoded list has %d elements, stored %d' % (len(value), len(items))
        if len(expected) != len(items):
            return 'expected %d elements, stored %d' % (len(expected), len(items))
        for i, (e, g) in enumerate(zip(expected, items)):
            if _b64decode(e) != g:
                return 'element %d bytes differ' % i
        return None
    raise AssertionError(kind)


# ---------------------------------------------------------------------------
# Reading a dataset.

CONFIG_KEYS = ('column_encodings', 'column_names', 'column_sizes', 'compression', 'format',
               'hashes', 'size_limit', 'version')


def fail(msg):
    sys.stderr.write('mds_reference: %s\n' % msg)
    sys.exit(1)


def warn(msg):
    sys.stderr.write('mds_reference: note: %s\n' % msg)


def load_index(dirname):
    path = os.path.join(dirname, 'index.json')
    try:
        with open(path, 'rb') as f:
            return json.loads(f.read().decode('utf-8'))
    except (OSError, ValueError) as e:
        fail('%s: %s' % (path, e))


def verify_files(dirname, index):
    """Check every recorded hash and byte count and each shard's header.

    Streaming itself validates only one hash, and only on files it copies or
    decompresses; this checks all of them, on the files in dirname.
    """
    from streaming.base.compression import decompress
    from streaming.base.hashing import get_hash, is_hash

    def check_info(entry, info, data, what):
        if info['bytes'] != len(data):
            fail('%s: %s: index says %d bytes, file has %d' %
                 (dirname, info['basename'], info['bytes'], len(data)))
        listed = set(entry['hashes'])
        if set(info['hashes']) != listed:
            fail('%s: %s: %s hashes %s do not match the listed algorithms %s' %
                 (dirname, info['basename'], what, sorted(info['hashes']), sorted(listed)))
        for algo, want in sorted(info['hashes'].items()):
            if not is_hash(algo):
                fail('%s: %s: unknown hash algorithm %r' % (dirname, info['basename'], algo))
            got = get_hash(algo, data)
            if got != want:
                fail('%s: %s: %s mismatch (index %s, file %s)' %
                     (dirname, info['basename'], algo, want, got))

    config_notes = 0
    for k, entry in enumerate(index.get('shards', [])):
        raw_info, zip_info = entry['raw_data'], entry['zip_data']
        raw_path = os.path.join(dirname, raw_info['basename'])
        raw = None
        if zip_info:
            zip_path = os.path.join(dirname, zip_info['basename'])
            if os.path.isfile(zip_path):
                with open(zip_path, 'rb') as f:
                    zdata = f.read()
                check_info(entry, zip_info, zdata, 'compressed')
                try:
                    raw = decompress(entry['compression'], zdata)
                except Exception as e:  # noqa: BLE001 - any codec error
                    fail('%s: %s: does not decompress with %s: %s' %
                         (dirname, zip_info['basename'], entry['compression'], e))
            elif not os.path.isfile(raw_path):
                fail('%s: shard %d: neither %s nor %s exists' %
                     (dirname, k, zip_info['basename'], raw_info['basename']))
        if os.path.isfile(raw_path):
            with open(raw_path, 'rb') as f:
                file_raw = f.read()
            if raw is not None and raw != file_raw:
                fail('%s: %s differs from the decompressed %s' %
                     (dirname, raw_info['basename'], zip_info['basename']))
            raw = file_raw
        if raw is None:
            fail('%s: %s is missing' % (dirname, raw_info['basename']))
        check_info(entry, raw_info, raw, 'raw')

        # Header: count, offsets; the config JSON between them is not read by
        # Streaming, so a difference there is only noted.
        name = raw_info['basename']
        if len(raw) < 8:
            fail('%s: %s: too short for a shard header' % (dirname, name))
        n = int.from_bytes(raw[:4], 'little')
        if n != entry['samples']:
            fail('%s: %s: header says %d samples, index %d' % (dirname, name, n, entry['samples']))
        head = 4 + 4 * (n + 1)
        if len(raw) < head:
            fail('%s: %s: too short for %d offsets' % (dirname, name, n + 1))
        offs = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'little') for i in range(n + 1)]
        if offs[0] < head or any(b < a for a, b in zip(offs, offs[1:])) or offs[-1] != len(raw):
            fail('%s: %s: bad sample offsets (first %d, last %d, file %d bytes)' %
                 (dirname, name, offs[0], offs[-1], len(raw)))
        want = json.dumps({key: entry[key] for key in CONFIG_KEYS if key in entry},
                          sort_keys=True).encode('utf-8')
        if raw[head:offs[0]] != want:
            config_notes += 1
            if config_notes == 1:
                warn('%s: %s: embedded config differs from what Streaming writes '
                     '(ignored by readers)' % (dirname, name))


class Dataset:
    """A dataset opened through StreamingDataset, with raw access to each sample."""

    def __init__(self, dirname):
        self.dirname = os.path.abspath(dirname)
        self.index = load_index(self.dirname)
        if self.index.get('version') != 2:
            fail('%s: index version is %r, not 2' % (dirname, self.index.get('version')))
        try:
            verify_files(self.dirname, self.index)
        except (KeyError, TypeError, AttributeError) as e:
            fail('%s: index.json: malformed shard entry (%s: %s)' %
                 (dirname, type(e).__name__, e))
        shards = self.index.get('shards', [])
        self.hash = None
        for entry in shards:
            if entry.get('hashes'):
                self.hash = entry['hashes'][0]
                break
        unsafe = any(e == 'pkl' for entry in shards for e in entry.get('column_encodings', []))
        self.tmp = tempfile.mkdtemp(prefix='mds-reference-')
        self.ds = None
        if not shards:
            return
        from streaming import StreamingDataset
        # Streaming may print; keep stdout for our own output.
        saved, sys.stdout = sys.stdout, sys.stderr
        try:
            self.ds = streaming_dataset(StreamingDataset, remote=self.dirname,
                                        local=os.path.join(self.tmp, 'local'), shuffle=False,
                                        batch_size=None, validate_hash=self.hash,
                                        allow_unsafe_types=unsafe)
        finally:
            sys.stdout = saved

    def __len__(self):
        return 0 if self.ds is None else len(self.ds)

    def samples(self):
        """Yield (index, where, reader, decoded sample, raw fields)."""
        for i in range(len(self)):
            saved, sys.stdout = sys.stdout, sys.stderr
            try:
                sample = self.ds[i]
            finally:
                sys.stdout = saved
            shard_id, rel = self.ds.spanner[i]
            shard_id, rel = int(shard_id), int(rel)
            reader = self.ds.shards[shard_id]
            where = 'sample %d (%s, row %d)' % (i, reader.raw_data.basename, rel)
            try:
                fields = split_fields(reader.get_sample_data(rel), reader.column_sizes)
            except DataError as e:
                fail('%s: %s: %s' % (self.dirname, where, e))
            yield i, where, reader, sample, fields

    def close(self):
        self.ds = None
        shutil.rmtree(self.tmp, ignore_errors=True)


def dump_lines(dirname, out):
    """Write the text form of every sample of dirname to the binary stream out."""
    d = Dataset(dirname)
    try:
        for _, where, reader, sample, fields in d.samples():
            parts = []
            for name, enc, raw in zip(reader.column_names, reader.column_encodings, fields):
                try:
                    touch_images(enc, sample[name])
                    text = format_field(enc, sample[name], raw)
                except Exception as e:  # noqa: BLE001 - report which field
                    fail('%s: %s: column %r (%s): %s' % (dirname, where, name, enc, e))
                parts.append(fmt_str(name) + ':' + text)
            out.write(('{' + ','.join(parts) + '}\n').encode('utf-8', 'strict'))
        out.flush()
    finally:
        d.close()


def cmd_dump(dirname):
    dump_lines(dirname, sys.stdout.buffer)


def cmd_dump_all(refdir, outdir):
    """dump for every case listed in refdir/cases.txt, into outdir/CASE.jsonl (one process)."""
    names = _case_list(refdir)
    os.makedirs(outdir, exist_ok=True)
    for name in names:
        with open(os.path.join(outdir, name + '.jsonl'), 'wb') as f:
            dump_lines(os.path.join(refdir, name), f)
    sys.stdout.write('dumped %d cases into %s\n' % (len(names), outdir))


def _case_list(refdir):
    path = os.path.join(refdir, 'cases.txt')
    try:
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]
    except OSError as e:
        fail('%s: %s' % (path, e))


def cmd_check(pairs):
    for dirname, expected_path in pairs:
        check_one(dirname, expected_path)


def check_one(dirname, expected_path):
    try:
        with open(expected_path, 'rb') as f:
            lines = f.read().decode('utf-8').split('\n')
    except (OSError, UnicodeDecodeError) as e:
        fail('%s: %s' % (expected_path, e))
    if lines and lines[-1] == '':
        lines.pop()
    d = Dataset(dirname)
    try:
        if len(d) != len(lines):
            fail('%s: %d samples, but %s has %d lines' % (dirname, len(d), expected_path, len(lines)))
        for i, where, reader, sample, fields in d.samples():
            try:
                want = json.loads(lines[i])
            except ValueError as e:
                fail('%s line %d: not JSON: %s' % (expected_path, i + 1, e))
            if not isinstance(want, dict):
                fail('%s line %d: not a JSON object' % (expected_path, i + 1))
            names = list(reader.column_names)
            if sorted(want) != sorted(names):
                fail('%s: %s: columns %s, but %s line %d has %s' %
                     (dirname, where, names, expected_path, i + 1, sorted(want)))
            for name, enc, raw in zip(names, reader.column_encodings, fields):
                value = sample[name]
                try:
                    touch_images(enc, value)
                    why = compare_field(enc, value, raw, want[name])
                    got = format_field(enc, value, raw)
                except Exception as e:  # noqa: BLE001 - report which field
                    why, got = str(e), '(unprintable)'
                if why:
                    exp_text = json.dumps(want[name], ensure_ascii=False, separators=(',', ':'))
                    if len(exp_text) > 200:
                        exp_text = exp_text[:200] + '...'
                    if len(got) > 200:
                        got = got[:200] + '...'
                    fail('%s: %s: column %r (%s): %s\n  expected (line %d): %s\n  read back: %s' %
                         (dirname, where, name, enc, why, i + 1, exp_text, got))
        sys.stdout.write('ok %s: %d samples, %d shards match %s\n' %
                         (dirname, len(d), len(d.index.get('shards', [])), expected_path))
    finally:
        d.close()


# ---------------------------------------------------------------------------
# Reference datasets.

def _rng(name):
    return _np().random.default_rng(zlib.crc32(name.encode('utf-8')))


def _edge_ints(np, dtype):
    info = np.iinfo(dtype)
    vals = [0, 1, info.max, info.min, info.max - 1, info.min + 1]
    if info.min < 0:
        vals += [-1]
    return [int(v) for v in vals]


def _random_ints(rng, np, dtype, n):
    info = np.iinfo(dtype)
    return [int(v) for v in rng.integers(info.min, info.max, size=n, dtype=dtype, endpoint=True)]


def _edge_floats(np, bits):
    nan, inf = float('nan'), float('inf')
    common = [0.0, -0.0, nan, -nan, inf, -inf, 1.0, -1.0, 0.5, 0.1, 1 / 3, 100.0, 1e-4,
              0.00015, 9.5e-05, 1e-05, 2.5]
    if bits == 16:
        t = np.float16
        extra = [65504.0, -65504.0, 6e-08, 6.104e-05, 2048.0, 2049.0, 1000.0, 0.0001,
                 0.000123, 3.14159, -7.25, 60000.0]
    elif bits == 32:
        t = np.float32
        extra = [3.4028234663852886e38, -3.4028234663852886e38, 1.401298464324817e-45,
                 1.1754943508222875e-38, 1e16, 1e15, 9.999999e15, 1.5e16, 16777216.0, 16777217.0,
                 123456.789, 1e-38, 1e38, 3.14159265, 0.2, 0.3, 7e-45]
    else:
        t = float
        extra = [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308,
                 0.30000000000000004, 1e16, 9999999999999998.0, 1.5e16, 1e22, 1e23,
                 123456789.0, 2.0 ** 53, 2.0 ** 53 + 2, 9.999999999999999e-05, 1e-300, 1e300,
                 1234.5678, -0.001, 5e-05]
    return [t(v) for v in common + extra]


def _random_floats(rng, np, bits, n):
    t = {16: np.float16, 32: np.float32, 64: np.float64}[bits]
    span = {16: 4, 32: 30, 64: 200}[bits]
    mant = rng.standard_normal(n)
    exps = rng.integers(-span, span, size=n)
    with np.errstate(over='ignore', under='ignore'):
        vals = (mant * 10.0 ** exps.astype(np.float64)).astype(t)
    return [t(v) if bits != 64 else float(v) for v in vals]


_STR_EDGES = [
    '', 'a', 'hello world', 'h\u00e9llo w\u00f6rld', '\u65e5\u672c\u8a9e\u30c6\u30ad\u30b9\u30c8',
    'emoji \U0001f642\U0001f680', 'quote " backslash \\ slash /', 'tab\tnewline\nCR\r',
    '\x00\x01\x08\x0c\x1b\x1f\x7f controls', 'C1 \x80\x9f\xa0 chars', '\u2028\u2029 separators',
    '\ufeffBOM', 'e\u0301 combining', 'surrogate pair \U00010348', '    leading spaces',
    'trailing spaces   ', ',comma;semicolon', '\\u0041 not an escape', '"', '\\', 'x' * 300,
    '\U0010ffff max code point', '\u0000',
]


def _random_strs(rng, n):
    alphabet = ('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;-_"\\\n\t'
                '\u00e9\u00fc\u00df\u0416\u03bb\u4e2d\u6587\u20ac\U0001f600')
    out = []
    for _ in range(n):
        k = int(rng.integers(0, 40))
        out.append(''.join(alphabet[int(i)] for i in rng.integers(0, len(alphabet), size=k)))
    return out


def _random_bytes(rng, n, hi=100):
    return [rng.integers(0, 256, size=int(rng.integers(0, hi)), dtype='uint8').tobytes()
            for _ in range(n)]


def _image(rng, mode, w, h):
    """A deterministic PIL image of the given mode and size."""
    from PIL import Image
    if mode == '1':
        return Image.fromarray(rng.integers(0, 2, size=(h, w), dtype='uint8') * 255).convert('1')
    if mode in ('L', 'P'):
        im = Image.fromarray(rng.integers(0, 256, size=(h, w), dtype='uint8'), 'L')
        if mode == 'P':
            im = im.convert('RGB').convert('P', palette=Image.Palette.ADAPTIVE, colors=16)
        return im
    if mode in ('RGB', 'RGBA', 'CMYK', 'YCbCr', 'LA'):
        bands = len(mode) if mode != 'YCbCr' else 3
        arr = rng.integers(0, 256, size=(h, w, bands), dtype='uint8')
        if mode == 'LA':
            return Image.merge('LA', [Image.fromarray(arr[:, :, 0]), Image.fromarray(arr[:, :, 1])])
        return Image.frombytes(mode, (w, h), arr.tobytes())
    if mode == 'I':
        arr = rng.integers(-2 ** 31, 2 ** 31 - 1, size=(h, w), dtype='int32')
        return Image.frombytes('I', (w, h), arr.astype('<i4').tobytes())
    if mode == 'I;16':
        arr = rng.integers(0, 65536, size=(h, w), dtype='uint16')
        return Image.frombytes('I;16', (w, h), arr.astype('<u2').tobytes())
    if mode == 'F':
        arr = rng.standard_normal(size=(h, w)).astype('float32')
        return Image.frombytes('F', (w, h), arr.astype('<f4').tobytes())
    raise ValueError(mode)


def _jpeg_bytes(im, **kw):
    import io
    buf = io.BytesIO()
    im.save(buf, format='JPEG', **kw)
    return buf.getvalue()


SIZES = [(1, 1), (2, 3), (8, 8), (17, 13), (5, 1), (1, 7), (32, 24)]


def values_for(enc, rng, tmpdir):
    """Deterministic sample values for one encoding, edge values first."""
    np = _np()
    if enc == 'int':
        return (_edge_ints(np, 'int64') + [2 ** 31, -2 ** 31 - 1, 2 ** 32, 255, 256] +
                _random_ints(rng, np, 'int64', 20))
    if enc in INT_ENCODINGS:
        t = getattr(np, enc)
        return [t(v) for v in _edge_ints(np, enc) + _random_ints(rng, np, enc, 20)]
    if enc in FLOAT_ENCODINGS:
        bits = FLOAT_ENCODINGS[enc]
        return _edge_floats(np, bits) + _random_floats(rng, np, bits, 30)
    if enc == 'str':
        return _STR_EDGES + _random_strs(rng, 20)
    if enc == 'bytes':
        return [b'', b'\x00', bytes(range(256)), b'\xff' * 3, b'plain text'] + _random_bytes(rng, 20)
    if enc == 'str_int':
        return ([0, 1, -1, 2 ** 63 - 1, -2 ** 63, 2 ** 63, 2 ** 64 - 1, 2 ** 64, -2 ** 64, 2 ** 64 + 1,
                 10 ** 40, -(10 ** 50) + 7, 2 ** 200, -2 ** 127] +
                [int(v) * 10 ** int(k) for v, k in zip(rng.integers(-10 ** 9, 10 ** 9, size=15),
                                                      rng.integers(0, 30, size=15))])
    if enc == 'str_float':
        return [float(v) for v in _edge_floats(np, 64)] + _random_floats(rng, np, 64, 20)
    if enc == 'str_decimal':
        texts = ['0', '-0', '1.10', '1E+3', '1e-30', '0.000001', '1E-7', '-12.3400', '0E-10',
                 'NaN', '-NaN', 'sNaN', 'Infinity', '-Infinity',
                 '123456789012345678901234567890.123456789', '3.14159265358979323846264338327950288',
                 '-0.5', '1000000', '1.0E+10', '9' * 60]
        vals = [Decimal(t) for t in texts]
        vals += [Decimal(int(m)).scaleb(int(e)) for m, e in
                 zip(rng.integers(-10 ** 12, 10 ** 12, size=10), rng.integers(-20, 20, size=10))]
        return vals
    if enc == 'json':
        return [
            {}, [], None, True, False, 0, -1, 2 ** 70, -2 ** 64, 1.5, 0.1, 1e-07, 1e300, -0.0, 1e16,
            123.0, 'str', '', 'h\u00e9\n"\\\t\x01\x7f\u2028 \U0001f642',
            {'a': 1, 'b': [1, 2, {'c': None}], 'unicode': '\u65e5\u672c', 'ctl': '\x01\x1f'},
            {'z': 1, 'a': 2, 'm': {'y': [], 'b': {}}},
            [[[]]], [1, 2.5, 'x', None, True, False, [], {}],
            {'k\u00e9y "q"': 'v', '': 0, '\t': 'tab key'},
            {'deep': {'deeper': {'deepest': [0.5, -2, 'end']}}},
            np.array([[1, 2], [3, 4]], dtype='int32'),
            [float(v) for v in _random_floats(rng, np, 64, 6)],
        ]
    if enc == 'ndarray':
        out = []
        shapes = [(1,), (5,), (2, 3), (2, 2, 2), (1, 1, 1, 1, 1, 1), (3, 1)]
        for dt in ['uint8', 'int8', 'uint16', 'int16', 'float16', 'uint32', 'int32', 'float32',
                   'uint64', 'int64', 'float64']:
            for shape in shapes[:3] if dt not in ('uint8', 'float32') else shapes:
                k = int(np.prod(shape))
                if dt.startswith('float'):
                    bits = int(dt[5:])
                    pool = _edge_floats(np, bits) + _random_floats(rng, np, bits, 20)
                    idx = rng.integers(0, len(pool), size=k)
                    out.append(np.array([pool[int(j)] for j in idx], dtype=dt).reshape(shape))
                else:
                    pool = _edge_ints(np, dt) + _random_ints(rng, np, dt, 20)
                    idx = rng.integers(0, len(pool), size=k)
                    out.append(np.array([pool[int(j)] for j in idx], dtype=dt).reshape(shape))
        # shape dims stored as uint16, then uint32
        out.append(rng.integers(0, 256, size=300, dtype='uint8'))
        out.append(rng.integers(0, 256, size=(2, 260), dtype='uint8').astype('int16'))
        out.append(np.arange(70000, dtype='uint32').astype('uint8'))
        # not C-contiguous: stored in C order all the same
        out.append(np.arange(12, dtype='int32').reshape(3, 4).T)
        return out
    if enc == 'ndarray:int16':
        out = [np.array([-32768, 32767, 0, -1, 1], dtype='int16'),
               np.array([7], dtype='int16')]
        for shape in [(3, 4), (2, 3, 4), (256,), (1, 1), (4, 1, 2)]:
            out.append(rng.integers(-32768, 32767, size=shape, dtype='int16', endpoint=True))
        return out
    if enc == 'ndarray:float32:3,4':
        pool = _edge_floats(np, 32)
        out = [np.array(pool[i:i + 12] + pool[:max(0, i + 12 - len(pool))],
                        dtype='float32').reshape(3, 4) for i in range(0, len(pool), 6)]
        out += [rng.standard_normal((3, 4)).astype('float32') for _ in range(5)]
        return out
    if enc == 'pil':
        modes = ['1', 'L', 'P', 'RGB', 'RGBA', 'CMYK', 'YCbCr', 'LA', 'I', 'I;16', 'F']
        return [_image(rng, m, *SIZES[i % len(SIZES)]) for i, m in enumerate(modes)]
    if enc == 'jpeg':
        from PIL import Image
        out = [_image(rng, m, *SIZES[i % len(SIZES)])
               for i, m in enumerate(['L', 'RGB', 'CMYK', 'RGB', 'L', 'RGB'])]
        # already-encoded bytes go through unchanged
        out.append(_jpeg_bytes(_image(rng, 'RGB', 16, 16), quality=50))
        # an image opened from a file: its original file bytes are stored
        path = os.path.join(tmpdir, 'from-file.jpg')
        with open(path, 'wb') as f:
            f.write(_jpeg_bytes(_image(rng, 'RGB', 9, 9), quality=80, comment=b'shardkit'))
        out.append(Image.open(path))
        return out
    if enc == 'png':
        modes = ['1', 'L', 'LA', 'P', 'RGB', 'RGBA', 'I;16']
        return [_image(rng, m, *SIZES[i % len(SIZES)]) for i, m in enumerate(modes)]
    if enc in ('list[pil]', 'list[jpeg]', 'list[png]'):
        modes = {'list[pil]': ['L', 'RGB', 'RGBA', 'F', '1'],
                 'list[jpeg]': ['L', 'RGB', 'CMYK'],
                 'list[png]': ['L', 'RGB', 'RGBA', 'P', 'I;16']}[enc]
        out = [[]]
        for n in [1, 2, 3, 1, 4]:
            out.append([_image(rng, modes[int(j)], *SIZES[int(s)])
                        for j, s in zip(rng.integers(0, len(modes), size=n),
                                        rng.integers(0, len(SIZES), size=n))])
        return out
    if enc in ('jpeg_array', 'jpegarray'):
        out = []
        for n in [1, 2, 3, 1]:
            out.append([_jpeg_bytes(_image(rng, 'RGB', *SIZES[int(s)]))
                        for s in rng.integers(0, len(SIZES), size=n)])
        return out
    if enc == 'pkl':
        return [{'a': 1, 'b': [1, 2, 3]}, (1, 'x', b'y'), 3.5, 'string', None, list(range(10)),
                {'nested': {'k': (1.0, -0.0, float('inf'))}}, Decimal('1.25'), [b'', ''], 2 ** 100,
                np.arange(5, dtype='int16'), {'\u00e9': '\U0001f642'}]
    raise ValueError('no values for %s' % enc)


ALL_ENCODINGS = ['int', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64',
                 'float16', 'float32', 'float64', 'str', 'bytes', 'str_int', 'str_float',
                 'str_decimal', 'json', 'ndarray', 'ndarray:int16', 'ndarray:float32:3,4', 'pil',
                 'jpeg', 'png', 'list[pil]', 'list[jpeg]', 'list[png]', 'jpeg_array', 'pkl']
ALL_COMPRESSIONS = [None, 'zstd', 'zstd:7', 'gz', 'gz:1', 'bz2', 'br', 'br:5', 'snappy']
ALL_HASHES = ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'sha3_224', 'sha3_256',
              'sha3_384', 'sha3_512', 'blake2b', 'blake2s', 'xxh32', 'xxh64', 'xxh3_64', 'xxh128',
              'xxh3_128']

# Encodings whose case also gets a small size_limit, so they span shards.
MULTI_SHARD = {'int': 400, 'str': 700, 'float32': 400, 'ndarray': 4096, 'json': 600,
               'bytes': 900, 'png': 1500}


def _slug(s):
    return re.sub(r'[^a-z0-9]+', '_', s.lower()).strip('_')


class Case:
    def __init__(self, name, columns, rows, compression=None, hashes=(), size_limit=1 << 26,
                 note=None):
        self.name = name
        self.columns = columns
        self.rows = rows  # a function (rng, tmpdir) -> list of sample dicts
        self.compression = compression
        self.hashes = list(hashes)
        self.size_limit = size_limit
        self.note = note


def _enc_rows(enc):
    def rows(rng, tmpdir):
        return [{'id': i, 'value': v} for i, v in enumerate(values_for(enc, rng, tmpdir))]
    return rows


def _mixed_rows(encs, n):
    def rows(rng, tmpdir):
        cols = {e: values_for(e, rng, tmpdir) for e in encs}
        return [{'c_' + _slug(e): cols[e][(i * 7 + j) % len(cols[e])] for j, e in enumerate(encs)}
                for i in range(n)]
    return rows


def _plain_rows(n, with_vec=True):
    def rows(rng, tmpdir):
        strs = _STR_EDGES + _random_strs(rng, n)
        blobs = _random_bytes(rng, n, hi=200)
        out = []
        for i in range(n):
            row = {'id': i, 'text': strs[i % len(strs)] + ' #%d' % i, 'blob': blobs[i],
                   'x': float(rng.standard_normal()) * 10.0 ** int(rng.integers(-8, 8))}
            if with_vec:
                row['vec'] = rng.standard_normal(8).astype('float32')
            out.append(row)
        return out
    return rows


def _oversize_rows(rng, tmpdir):
    return [{'id': i, 'text': 'x' * (300 if i == 0 else i)} for i in range(10)]


def _names_rows(rng, tmpdir):
    return [{'a': i, 'A': -i, '_': 'u%d' % i, 'with space': 's', 'quote"name': 'q',
             'back\\slash': b'\x01', '\u00e9t\u00e9': float(i) / 4, '\u65e5\u672c': [i, {'k': i}],
             'z\u00e9': 'last', 'Z': 0.5 * i, '0': 'zero'} for i in range(6)]


def _json_nonfinite_rows(rng, tmpdir):
    nan, inf = float('nan'), float('inf')
    return [{'id': i, 'value': v} for i, v in
            enumerate([nan, inf, -inf, [1.0, nan], {'x': -inf}, 1.0])]


def build_cases():
    cases = []
    for enc in ALL_ENCODINGS:
        limit = MULTI_SHARD.get(enc, 1 << 26)
        cases.append(Case('enc_' + _slug(enc), {'id': 'int', 'value': enc}, _enc_rows(enc),
                          size_limit=limit))
    cases.append(Case('enc_jpegarray', {'id': 'int', 'value': 'jpegarray'},
                      _enc_rows('jpegarray')))
    safe = [e for e in ALL_ENCODINGS if e != 'pkl']
    cases.append(Case('mixed_all', {'c_' + _slug(e): e for e in safe}, _mixed_rows(safe, 40),
                      compression='zstd', hashes=['sha1', 'xxh64'], size_limit=32 * 1024))
    plain = {'id': 'int', 'text': 'str', 'blob': 'bytes', 'x': 'float64',
             'vec': 'ndarray:float32:8'}
    for comp in ALL_COMPRESSIONS:
        cases.append(Case('comp_' + (_slug(comp) if comp else 'none'), plain, _plain_rows(120),
                          compression=comp, hashes=['xxh64'], size_limit=4096))
    small = {'id': 'int', 'text': 'str', 'blob': 'bytes', 'x': 'float64'}
    for algo in ALL_HASHES:
        cases.append(Case('hash_' + algo, small, _plain_rows(30, with_vec=False),
                          hashes=[algo], size_limit=1024))
    cases.append(Case('hash_all_zstd', small, _plain_rows(30, with_vec=False),
                      compression='zstd', hashes=sorted(ALL_HASHES), size_limit=1024))
    cases.append(Case('hash_all_raw', small, _plain_rows(30, with_vec=False),
                      hashes=sorted(ALL_HASHES), size_limit=1024))
    cases.append(Case('layout_one_shard', small, _plain_rows(60, with_vec=False), size_limit=None))
    cases.append(Case('layout_many_shards', small, _plain_rows(60, with_vec=False),
                      size_limit=300))
    cases.append(Case('layout_size_string', small, _plain_rows(60, with_vec=False),
                      size_limit='2kb'))
    cases.append(Case('layout_oversize_first', {'id': 'int', 'text': 'str'}, _oversize_rows,
                      size_limit=400,
                      note='first sample exceeds size_limit: Streaming writes an empty '
                           'shard.00000.mds first'))
    cases.append(Case('edge_column_names',
                      {'a': 'int', 'A': 'int', '_': 'str', 'with space': 'str', 'quote"name': 'str',
                       'back\\slash': 'bytes', '\u00e9t\u00e9': 'float32', '\u65e5\u672c': 'json',
                       'z\u00e9': 'str', 'Z': 'float64', '0': 'str'},
                      _names_rows))
    cases.append(Case('edge_json_nonfinite', {'id': 'int', 'value': 'json'}, _json_nonfinite_rows,
                      note='Python json.dumps writes NaN/Infinity tokens, which strict JSON '
                           'parsers reject'))
    return cases


def _encoding_supported(enc):
    from streaming.base.format.mds.encodings import is_mds_encoding
    return is_mds_encoding(enc)


def write_case(case, outdir):
    from streaming import MDSWriter
    from streaming.base.compression import is_compression
    from streaming.base.hashing import is_hash

    bad = [e for e in case.columns.values() if not _encoding_supported(e)]
    if bad:
        return 'encoding %s not supported by this streaming version' % ', '.join(bad)
    if case.compression and not is_compression(case.compression):
        return 'compression %s not supported by this streaming version' % case.compression
    bad = [h for h in case.hashes if not is_hash(h)]
    if bad:
        return 'hash %s not available here' % ', '.join(bad)
    path = os.path.join(outdir, case.name)
    if os.path.lexists(path):
        shutil.rmtree(path)
    tmpdir = tempfile.mkdtemp(prefix='mds-reference-')
    try:
        rows = case.rows(_rng(case.name), tmpdir)
        kwargs = {'out': path, 'columns': case.columns, 'compression': case.compression,
                  'hashes': case.hashes, 'size_limit': case.size_limit}
        with MDSWriter(**kwargs) as w:
            for row in rows:
                w.write(row)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return None


def cmd_write(outdir, names):
    import warnings
    warnings.simplefilter('ignore')
    cases = build_cases()
    known = {c.name for c in cases}
    unknown = [n for n in names if n not in known]
    if unknown:
        fail('unknown case(s): %s (see `list`)' % ', '.join(unknown))
    if names:
        cases = [c for c in cases if c.name in names]
    os.makedirs(outdir, exist_ok=True)
    written = []
    # Streaming may print; keep stdout for the summary.
    saved, sys.stdout = sys.stdout, sys.stderr
    try:
        for case in cases:
            try:
                why = write_case(case, outdir)
            except Exception as e:  # noqa: BLE001 - an unsupported combination
                why = '%s: %s' % (type(e).__name__, e)
                shutil.rmtree(os.path.join(outdir, case.name), ignore_errors=True)
            if why:
                warn('skipped case %s: %s' % (case.name, why))
                continue
            if case.note:
                warn('%s: %s' % (case.name, case.note))
            written.append(case.name)
    finally:
        sys.stdout = saved
    with open(os.path.join(outdir, 'cases.txt'), 'w') as f:
        f.write(''.join(n + '\n' for n in written))
    total = 0
    for root, _, files in os.walk(outdir):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    sys.stdout.write('wrote %d of %d cases under %s (%d bytes)\n' %
                     (len(written), len(cases), outdir, total))
    if len(written) != len(cases):
        sys.stdout.write('skipped: %s\n' % ' '.join(c.name for c in cases
                                                      if c.name not in written))


# ---------------------------------------------------------------------------
# Self test of the formatter.

def cmd_selftest():
    np = _np()
    rng = np.random.default_rng(1)
    bad = 0
    doubles = list(rng.standard_normal(20000) * 10.0 ** rng.integers(-320, 300, size=20000))
    doubles += [5e-324, 1e-4, 9.999999999999999e-05, 1e16, 9999999999999998.0, 0.1, 123.0]
    for v in doubles:
        v = float(v)
        if not math.isfinite(v) or v == 0:
            continue
        s = np.format_float_scientific(v, unique=True, trim='-')
        mant, _, exp = s.partition('e')
        mine = _layout(mant.startswith('-'), mant.lstrip('-').replace('.', '').rstrip('0') or '0',
                       int(exp))
        if mine != repr(v):
            bad += 1
            sys.stderr.write('layout %r: %s\n' % (v, mine))
    for bits, t, n in [(32, np.float32, 50000), (16, np.float16, 0)]:
        if bits == 16:
            vals = np.arange(65536, dtype='uint16').view(np.float16)
        else:
            vals = rng.integers(0, 2 ** 32, size=n, dtype='uint32').view(np.float32)
        for x in vals:
            s = fmt_float(x, bits)
            if math.isnan(x):
                ok = s == 'NaN'
            elif math.isinf(x):
                ok = s in ('Infinity', '-Infinity')
            else:
                back = t(float(s))
                ok = back.tobytes() == x.tobytes()
                # as short as NumPy's own shortest repr
                ok = ok and len(s.lstrip('-').replace('.0e', 'e')) <= len(str(x)) + 2
                # Python's layout rule for positional vs scientific
                a = abs(float(x))
                ok = ok and (a == 0 or ('e' in s) == (a < 1e-4 or a >= 1e16))
            if not ok:
                bad += 1
                if bad < 20:
                    sys.stderr.write('float%d %r: %s\n' % (bits, x, s))
    samples = {
        (1e-05, 32): '1e-05', (16777216.0, 32): '16777216.0', (1e16, 32): '1e+16',
        (0.1, 32): '0.1', (-0.0, 32): '-0.0', (65504.0, 16): '65500.0', (0.0001, 16): '0.0001',
        (1.5e16, 64): '1.5e+16', (float('nan'), 16): 'NaN', (float('-inf'), 32): '-Infinity',
        (5.960464477539063e-08, 16): '6e-08', (3.4028234663852886e38, 32): '3.4028235e+38',
    }
    for (v, bits), want in samples.items():
        t = {16: np.float16, 32: np.float32, 64: float}[bits]
        got = fmt_float(t(v), bits)
        if got != want:
            bad += 1
            sys.stderr.write('fmt_float(%r, %d) = %s, want %s\n' % (v, bits, got, want))
    strs = {'a"b\\c': '"a\\"b\\\\c"', '\n\r\t\x08\x0c\x00\x7f': '"\\n\\r\\t\\u0008\\u000c\\u0000\\u007f"',
            '\u00e9\U0001f642\u2028': '"\u00e9\U0001f642\u2028"', '\udc80': '"\\udc80"'}
    for s, want in strs.items():
        if fmt_str(s) != want:
            bad += 1
            sys.stderr.write('fmt_str(%r) = %s, want %s\n' % (s, fmt_str(s), want))
    j = fmt_json_value({'b': [1, 2.0, None, True], 'a': {'x': 'y'}, 'n': -0.0, 'big': 2 ** 70})
    if j != '{"b":[1,2.0,null,true],"a":{"x":"y"},"n":-0.0,"big":1180591620717411303424}':
        bad += 1
        sys.stderr.write('fmt_json_value: %s\n' % j)
    if bad:
        fail('selftest: %d failures' % bad)
    sys.stdout.write('selftest ok\n')


def main(argv):
    usage = ('usage: mds_reference.py write OUTDIR [CASE ...] | dump DIR | '
             'dump-all REFDIR OUTDIR | check DIR EXPECTED.jsonl [DIR EXPECTED.jsonl ...] | '
             'list | selftest')
    if len(argv) < 2:
        sys.stderr.write(usage + '\n')
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == 'write' and len(args) >= 1:
        cmd_write(args[0], args[1:])
    elif cmd == 'dump' and len(args) == 1:
        cmd_dump(args[0])
    elif cmd == 'dump-all' and len(args) == 2:
        cmd_dump_all(args[0], args[1])
    elif cmd == 'check' and args and len(args) % 2 == 0:
        cmd_check(list(zip(args[0::2], args[1::2])))
    elif cmd == 'list' and not args:
        sys.stdout.write(''.join(c.name + '\n' for c in build_cases()))
    elif cmd == 'selftest' and not args:
        cmd_selftest()
    else:
        sys.stderr.write(usage + '\n')
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
