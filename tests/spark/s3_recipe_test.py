"""examples/spark_to_mds.py into S3: a DataFrame goes through to_mds() on
local[2] to an s3:// destination (moto's server, endpoint and keys from the
environment), one task attempt made to fail after its shards went up; then
the same DataFrame to a local directory. shard-cat must give the same rows
from both, and the bucket must hold only index.json and the shards it names.

    s3_recipe_test.py BINDIR WORKDIR s3://BUCKET/PREFIX
"""
import os
import subprocess
import sys

sys.path[:0] = [os.path.join(os.path.dirname(__file__), '..', '..', 'examples')]

from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

from spark_to_mds import to_mds  # noqa: E402

SCHEMA = 'id:int64,name:str,x:float64'


def main():
    bindir, work, dest = sys.argv[1:4]
    marker = os.path.join(work, 'failed-once')
    spark = (SparkSession.builder.master('local[2,2]').appName('shardkit-s3-recipe-test')
             .config('spark.sql.session.timeZone', 'UTC').config('spark.task.maxFailures', '4')
             .config('spark.driver.host', '127.0.0.1').config('spark.driver.bindAddress', '127.0.0.1')
             .config('spark.ui.enabled', 'false').getOrCreate())
    schema = T.StructType([T.StructField('id', T.LongType()), T.StructField('name', T.StringType()),
                           T.StructField('x', T.DoubleType())])
    df = spark.createDataFrame([(i, f'row {i}, "quoted" & <tagged>', i / 7) for i in range(600)], schema)
    df = df.repartition(4, 'id').sortWithinPartitions('id')
    fail_once = ['sh', '-c', '"$@"; rc=$?; [ $rc -ne 0 ] && exit $rc; '
                 f'mkdir {marker} 2>/dev/null && exit 3; exit 0', 'sh']
    to_mds(df, dest, SCHEMA, bindir=bindir, extra_args=['--size-limit', '4KiB'], command_prefix=fail_once)
    local = os.path.join(work, 'local')
    to_mds(df, local, SCHEMA, bindir=bindir, extra_args=['--size-limit', '4KiB'])
    spark.stop()
    assert os.path.isdir(marker), 'no task attempt was made to fail'

    cat = os.path.join(bindir, 'shard-cat')
    remote = subprocess.run([cat, dest], capture_output=True, check=True).stdout
    here = subprocess.run([cat, local], capture_output=True, check=True).stdout
    assert remote == here, 'shard-cat of the s3:// dataset differs from the local one'
    assert len(remote.splitlines()) == 600, len(remote.splitlines())
    # what the bucket holds: index.json and the shards it names, nothing of the failed attempt
    listed = subprocess.run([os.path.join(bindir, 'shard-index'), 'prune', '-n', dest], capture_output=True,
                            text=True)
    assert listed.returncode == 0, listed.stderr
    assert 'would remove' not in listed.stdout, f'left behind: {listed.stdout}'
    print(f'ok: s3 recipe: 600 rows, shard-cat equal to the local run, the failed attempt\'s shards deleted')


if __name__ == '__main__':
    main()
