"""Real Spark: a DataFrame goes through examples/spark_to_mds.py (shard-convert
in every task) with a hand-written schema, one task attempt is made to fail
after writing its shards (what it left must be removed), and the merged
dataset, read by Mosaic's StreamingDataset into PyTorch tensors, must equal
the DataFrame's rows exactly.

    pipe_test.py BINDIR WORKDIR MASTER      (MASTER: local[4,2] or spark://...)
"""
import datetime as dt
import json
import math
import os
import sys

sys.path[:0] = [os.path.dirname(__file__), os.path.join(os.path.dirname(__file__), '..', '..', 'examples')]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import types as T  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from open_mds import streaming_dataset  # noqa: E402
from spark_to_mds import to_mds  # noqa: E402

SCHEMA = ('id:int64,small:int8,mid:int16,x:float64,f:float32,name:str,flag:bool,day:date,'
          'ts:timestamp,note:str')
N = 2000


def rows():
    utc = dt.timezone.utc
    out = []
    for i in range(N):
        name = ['plain', 'comma, inside', 'quote " inside', 'back\\slash', 'new\nline', 'ünïcödé ✓',
                '  spaces  ', ''][i % 8] + f' #{i}'
        x = [1.5, -0.0, float('nan'), float('inf'), float('-inf'), 1e300, 5e-324][i % 7] if i % 3 == 0 \
            else i / 7.0
        out.append((i, (i % 256) - 128, (i * 37) % 65536 - 32768, x, float(np.float32(i / 3.0)), name,
                    i % 2 == 0, dt.date(1970, 1, 1) + dt.timedelta(days=i * 13 - 5000),
                    dt.datetime(2020, 1, 1, tzinfo=utc) + dt.timedelta(seconds=i * 3607, microseconds=i * 11),
                    None if i % 5 == 0 else f'n{i}'))
    return out


def spark_schema():
    """rows()'s Spark types (SCHEMA's columns)."""
    return T.StructType([
        T.StructField('id', T.LongType()), T.StructField('small', T.ByteType()),
        T.StructField('mid', T.ShortType()), T.StructField('x', T.DoubleType()),
        T.StructField('f', T.FloatType()), T.StructField('name', T.StringType()),
        T.StructField('flag', T.BooleanType()), T.StructField('day', T.DateType()),
        T.StructField('ts', T.TimestampType()), T.StructField('note', T.StringType())])


def read_rows(remote, count):
    """Every sample of the dataset at remote (a directory or URL), in order,
    through StreamingDataset and a DataFrame loader, as {column: value}."""
    ds = streaming_dataset(remote, 100)
    assert len(ds) == count, (len(ds), count)
    loader = DataLoader(ds, batch_size=100, num_workers=0)
    got = []
    for batch in loader:
        assert isinstance(batch['id'], torch.Tensor) and batch['id'].dtype == torch.int64
        assert batch['f'].dtype == torch.float32 and batch['x'].dtype == torch.float64
        for k in range(len(batch['id'])):
            got.append({c: batch[c][k] for c in batch})
    return got


def check_rows(expected, got):
    """got (read_rows()) holds exactly the DataFrame rows expected, in order,
    with note's nulls filled as '<null>'."""
    assert len(got) == len(expected), (len(got), len(expected))
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    for i, (e, g) in enumerate(zip(expected, got)):
        def fail(col, want, have):
            raise AssertionError(f'row {i} column {col}: DataFrame {want!r}, dataset {have!r}')
        (eid, small, mid, x, f, name, flag, day, ts, note) = e
        if int(g['id']) != eid: fail('id', eid, g['id'])
        if int(g['small']) != small: fail('small', small, g['small'])
        if int(g['mid']) != mid: fail('mid', mid, g['mid'])
        gx = float(g['x'])
        if not (gx == x and math.copysign(1, gx) == math.copysign(1, x) or (math.isnan(gx) and math.isnan(x))):
            fail('x', x, gx)
        if float(g['f']) != f: fail('f', f, g['f'])
        if g['name'] != name: fail('name', name, g['name'])
        if int(g['flag']) != int(flag): fail('flag', flag, g['flag'])
        if int(g['day']) != (day - dt.date(1970, 1, 1)).days: fail('day', day, g['day'])
        want_us = (ts.replace(tzinfo=dt.timezone.utc) - epoch) // dt.timedelta(microseconds=1)
        if int(g['ts']) != want_us: fail('ts', want_us, g['ts'])
        if g['note'] != (note if note is not None else '<null>'): fail('note', note, g['note'])


def main():
    bindir, work, master = sys.argv[1:4]
    dest = os.path.join(work, 'dataset')
    marker = os.path.join(work, 'failed-once')
    spark = (SparkSession.builder.master(master).appName('shardkit-pipe-test')
             .config('spark.sql.session.timeZone', 'UTC')
             .config('spark.task.maxFailures', '4')
             .config('spark.driver.host', '127.0.0.1').config('spark.driver.bindAddress', '127.0.0.1')
             .config('spark.ui.enabled', 'false').getOrCreate())
    df = spark.createDataFrame(rows(), spark_schema()).repartition(4, 'id').sortWithinPartitions('id')
    expected = [tuple(r) for r in df.collect()]
    # The first attempt to finish writes its shards and entries, then fails:
    # Spark retries it, and its leftovers must not reach the merged index.
    fail_once = ['sh', '-c', '"$@"; rc=$?; [ $rc -ne 0 ] && exit $rc; '
                 f'mkdir {marker} 2>/dev/null && exit 3; exit 0', 'sh']
    to_mds(df, dest, SCHEMA, bindir=bindir, extra_args=['--fill', 'note=<null>'], command_prefix=fail_once)
    spark.stop()

    assert os.path.isdir(marker), 'no task attempt was made to fail'
    index = json.load(open(os.path.join(dest, 'index.json')))
    used = {s['raw_data']['basename'].split('/')[0] for s in index['shards']}
    parts = {p for p in os.listdir(dest) if p.startswith('part-')}
    assert parts == used, f'the failed attempt\'s leftovers stayed: parts={parts} used={used}'
    assert index.get('shardkit', {}).get('logical_types') == {'day': 'date', 'flag': 'bool', 'ts': 'timestamp'}

    got = read_rows(dest, len(expected))
    check_rows(expected, got)
    print(f'ok: {len(got)} rows equal through the Spark tasks, merge and StreamingDataset '
          f'({len(parts)} part directories, the failed attempt\'s removed)')


if __name__ == '__main__':
    main()
