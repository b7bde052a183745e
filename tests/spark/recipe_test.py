"""Real Spark (local[2], two attempts per task): a DataFrame with a nullable
column of every kind, nulls in each, goes to MDS without a hand-written schema,
two ways, and comes back through Mosaic's StreamingDataset and
examples/shardkit_types.py equal to df.collect(), nulls as None:

  recipe  to_mds(df, dest) (schema from df.schema), one task attempt made to
          fail after writing its shards: Spark retries it, and what it left
          is removed; then mode='error' refuses the dataset, mode='overwrite'
          with overrides and fills replaces it, and a task that fails every attempt
          (a long column overridden to int8) raises an error naming its
          partition and shard-convert's message, leaving no part directory.
  csv     df.write.csv with the writer options that keep everything, then
          shard-convert --header --schema-from "$(df.schema.json())".

    recipe_test.py BINDIR WORKDIR
"""
import datetime as dt
import decimal
import json
import math
import os
import subprocess
import sys

sys.path[:0] = [os.path.dirname(__file__), os.path.join(os.path.dirname(__file__), '..', '..', 'examples')]

import numpy as np  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import types as T  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from open_mds import streaming_dataset  # noqa: E402
from shardkit_types import ShardkitTypes  # noqa: E402
from spark_to_mds import ConversionError, to_mds  # noqa: E402

N = 360
UTC = dt.timezone.utc
FIELDS = [('i64', T.LongType()), ('i32', T.IntegerType()), ('i16', T.ShortType()), ('i8', T.ByteType()),
          ('f64', T.DoubleType()), ('f32', T.FloatType()), ('s', T.StringType()), ('b', T.BooleanType()),
          ('d', T.DateType()), ('ts', T.TimestampType()), ('dec', T.DecimalType(10, 2)),
          ('arr', T.ArrayType(T.FloatType()))]
DATES = [dt.date(1582, 10, 10), dt.date(1582, 10, 4), dt.date(1582, 10, 15), dt.date(1000, 1, 1), dt.date(1, 1, 1),
         dt.date(1969, 12, 31), dt.date(1970, 1, 1), dt.date(2024, 2, 29), dt.date(9999, 12, 31)]
STAMPS = [dt.datetime(1582, 10, 10, 1, 2, 3, 456789), dt.datetime(1000, 1, 1, 23, 59, 59, 999999),
          dt.datetime(1, 1, 2, 0, 0, 0, 1), dt.datetime(1850, 6, 1, 12, 0, 0, 7), dt.datetime(1899, 12, 31, 23, 59, 59),
          dt.datetime(1969, 12, 31, 23, 59, 59, 999999), dt.datetime(2024, 3, 10, 10, 30, 0, 123456)]
STRINGS = ['  padded  ', ' lead', 'trail ', '\ttab\t', '', 'comma, "quote" \\ back', 'new\nline', 'ünï ✓']
DOUBLES = [1.5, -0.0, float('nan'), float('inf'), float('-inf'), 1e300, 5e-324, 0.1]


def rows():
    out = []
    for i in range(N):
        vals = [i * 1_000_000_007 - 10**11, i * 65_537 - 10**7, (i * 37) % 65536 - 32768, i % 256 - 128,
                DOUBLES[i % len(DOUBLES)] if i % 3 else i / 7.0, float(np.float32(i / 3.0)), STRINGS[i % len(STRINGS)],
                i % 2 == 0, DATES[i % len(DATES)], STAMPS[i % len(STAMPS)] + dt.timedelta(days=i, microseconds=i),
                decimal.Decimal(f'{i * 7919 - 1000000}.{i % 100:02d}'), [i / 2.0, -1.25, float(i % 5)]]
        # every column null somewhere, in a different row for each
        vals = [None if (i + k) % 9 == 0 else v for k, v in enumerate(vals)]
        out.append((i, *vals))
    return out


def schema(fields=FIELDS):
    return T.StructType([T.StructField('id', T.LongType(), False)] + [T.StructField(n, t) for n, t in fields])


def same(want, have):
    if isinstance(want, float) and isinstance(have, float):
        return (math.isnan(want) and math.isnan(have)) or (want == have and math.copysign(1, want) == math.copysign(1, have))
    if isinstance(want, list):
        return have is not None and len(want) == len(have) and all(same(w, float(h)) for w, h in zip(want, have))
    if isinstance(want, dt.datetime):  # collect() gives the UTC wall clock (TZ=UTC), naive
        want = want.replace(tzinfo=UTC)
    return type(want) is type(have) and want == have


def read_back(ds_dir, want, label):
    """StreamingDataset + ShardkitTypes against df.collect(); returns the dataset's types."""
    types = ShardkitTypes.load(ds_dir)
    ds = streaming_dataset(ds_dir, 50)
    assert len(ds) == len(want), (label, len(ds), len(want))
    by_id = {r['id']: r for r in want}
    seen = set()
    for k in range(len(ds)):
        got = types.decode(ds[k])
        w = by_id[got['id']]
        seen.add(got['id'])
        assert set(got) == set(w), (label, sorted(got), sorted(w))
        for c in w:
            if not same(w[c], got[c]):
                raise AssertionError(f'{label}: id {w["id"]} column {c}: DataFrame {w[c]!r}, dataset {got[c]!r}')
    assert seen == set(by_id), label
    # batches: values and validity as tensors, masks from the helper
    loader = DataLoader(ds, batch_size=50, collate_fn=types.collate(['id', 'i32', 'f64', 'ts']))
    nulls = 0
    for batch in loader:
        ok = types.masks(batch)
        assert set(ok) == {c for c in ('i32', 'f64', 'ts') if types.nullable(c)}, sorted(ok)
        for j, i in enumerate(batch['id'].tolist()):
            for c in ok:
                assert bool(ok[c][j]) == (by_id[i][c] is not None), (label, i, c)
                nulls += not bool(ok[c][j])
    assert nulls > 0
    del loader, ds
    return types


def check_dataset(dest, want, label, fills=None):
    index = json.load(open(os.path.join(dest, 'index.json')))
    meta = index['shardkit']
    fills = fills or {}
    names = [n for n, _ in FIELDS if n in want[0] and n not in fills]
    assert meta['validity'] == {n: n + '.valid' for n in names}, meta['validity']
    assert meta['logical_types'] == {'b': 'bool', 'd': 'date', 'ts': 'timestamp'}, meta
    read_back(dest, [{c: fills[c] if v is None and c in fills else v for c, v in r.items()} for r in want], label)
    return index


def main():
    bindir, work = sys.argv[1:3]
    spark = (SparkSession.builder.master('local[2,2]').appName('shardkit-recipe-test')
             .config('spark.sql.session.timeZone', 'America/Los_Angeles')
             .config('spark.driver.host', '127.0.0.1').config('spark.driver.bindAddress', '127.0.0.1')
             .config('spark.ui.enabled', 'false').getOrCreate())
    df = spark.createDataFrame(rows(), schema()).repartition(3)
    want = [r.asDict() for r in df.collect()]

    # the recipe, typed from df.schema, one attempt failed after its shards were written
    dest = os.path.join(work, 'ds')
    marker = os.path.join(work, 'failed-once')
    fail_once = ['sh', '-c', f'"$@" || exit; mkdir {marker} 2>/dev/null && exit 3; exit 0', 'sh']
    to_mds(df, dest, bindir=bindir, command_prefix=fail_once)
    assert os.path.isdir(marker), 'no task attempt was made to fail'
    index = check_dataset(dest, want, 'recipe')
    used = {s['raw_data']['basename'].split('/')[0] for s in index['shards']}
    parts = {p for p in os.listdir(dest) if p.startswith('part-')}
    assert parts == used and len(used) == 3, f'part directories {sorted(parts)}, index.json uses {sorted(used)}'
    print(f'ok: recipe: {N} rows equal, nulls as None, {len(parts)} part directories, the failed attempt\'s removed')

    # modes: error refuses a dataset and any file; overwrite replaces
    for holder in (dest, work):
        try:
            to_mds(df, holder, bindir=bindir)
            raise AssertionError(f"mode='error' wrote over {holder}")
        except FileExistsError as e:
            assert 'dataset' in str(e) if holder == dest else 'files' in str(e), str(e)
    small = df.where('id < 100')
    fills = {'s': '<null>', 'b': False, 'f64': float('-inf')}
    to_mds(small, dest, bindir=bindir, mode='overwrite', overrides={'arr': 'ndarray:float32:3', 'i16': 'int32'},
           fills=fills)
    index = check_dataset(dest, [r for r in want if r['id'] < 100], 'overwrite', fills)
    encs = dict(zip(index['shards'][0]['column_names'], index['shards'][0]['column_encodings']))
    assert encs['arr'] == 'ndarray:float32:3' and encs['i16'] == 'int32' and encs['i64'] == 'int64', encs
    assert sum(s['samples'] for s in index['shards']) == 100
    print("ok: mode='error' refuses a dataset and a directory with files; mode='overwrite' with overrides "
          "and fills replaced it (100 rows equal)")

    # a task that fails on every attempt: the driver's error names it and says why
    bad = os.path.join(work, 'bad')
    try:
        to_mds(df, bad, bindir=bindir, overrides={'i64': 'int8'})
        raise AssertionError('an int8 override of large longs converted')
    except ConversionError as e:
        msg = str(e)
    assert msg.startswith('partition ') and 'shard-convert exited with status 1' in msg, msg
    assert "shard-convert: <stdin>:" in msg and "column 'i64'" in msg, msg
    assert not os.path.exists(os.path.join(bad, 'index.json')) and not os.listdir(bad), os.listdir(bad)
    print(f'ok: a failing task: ConversionError: {msg.splitlines()[0]}')

    # the CSV path: Spark's writer with the options that keep everything
    spark.conf.set('spark.sql.session.timeZone', 'UTC')
    flat = spark.createDataFrame([r[:-1] for r in rows()], schema(FIELDS[:-1])).repartition(3)
    export = os.path.join(work, 'export')
    (flat.write.option('header', True).option('timestampFormat', "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXXXX")
     .option('ignoreLeadingWhiteSpace', False).option('ignoreTrailingWhiteSpace', False).csv(export))
    csv_ds = os.path.join(work, 'csv-ds')
    subprocess.run([os.path.join(bindir, 'shard-convert'), '-q', '--header', '--schema-from', flat.schema.json(),
                    '-o', csv_ds, export], check=True)
    check_dataset(csv_ds, [r.asDict() for r in flat.collect()], 'csv')
    print(f'ok: csv: {N} rows written by Spark with the lossless options convert to df.collect()\'s values')
    spark.stop()


if __name__ == '__main__':
    main()
