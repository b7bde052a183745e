"""Real Spark on a standalone cluster: pipe_test.py's DataFrame in 8
partitions goes through RDD.pipe() into shard-convert --entries in the
executors, one task attempt is made to fail after writing its shards (Spark
runs it again), the driver merges the entries of the attempts that succeeded
with `shard-index merge -o DEST -`, and Mosaic's StreamingDataset, with its
own client, reads every row of DEST back exactly once, equal to the
DataFrame's.

    cluster_test.py BINDIR MASTER DEST MARKER [DEST MARKER ...]

Each DEST is a job of its own in one Spark application: a directory every
worker sees, or s3://BUCKET/PREFIX; to_mds:DEST converts through
examples/spark_to_mds.py's to_mds() instead of a pipe() of its own. The S3 endpoint, credentials and region
come from this process's AWS_* environment; they reach the tasks'
shard-convert through pipe()'s env (the executors hold none of their own)
and StreamingDataset through S3_ENDPOINT_URL and boto3's own variables. MARKER is a path no attempt has made yet: the first task
attempt whose shard-convert succeeds makes it and fails.
"""
import json
import os
import shlex
import subprocess
import sys
import time

sys.path[:0] = [os.path.dirname(__file__), os.path.join(os.path.dirname(__file__), '..', '..', 'examples')]

from pipe_test import SCHEMA, check_rows, read_rows, rows, spark_schema  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402
from spark_to_mds import _exact_text, to_mds  # noqa: E402

PARTITIONS = 8
# what the tasks' shard-convert may see of the driver's environment
PASSED = ('PATH', 'LD_LIBRARY_PATH', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3', 'AWS_ACCESS_KEY_ID',
          'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'ASAN_OPTIONS',
          'UBSAN_OPTIONS')


def pipe_job(lines, bindir, dest, marker):
    """lines (JSON text, one partition a task) through RDD.pipe() into
    shard-convert --entries -o dest, the first attempt to succeed failing
    after it wrote its shards; the entries of the attempts Spark kept, merged
    into dest's index.json."""
    convert, index = (os.path.abspath(os.path.join(bindir, p)) for p in ('shard-convert', 'shard-index'))
    # The first attempt whose shard-convert succeeds fails after writing its
    # shards and printing their entries: Spark drops its output and runs the
    # partition again, and what it wrote is left for the checks that follow.
    fail_once = f'"$@" || exit; mkdir {shlex.quote(marker)} 2>/dev/null && exit 3; exit 0'
    cmd = shlex.join(['sh', '-c', fail_once, 'sh', convert, '-f', 'jsonl', '--schema', SCHEMA,
                      '--fill', 'note=<null>', '--timezone', 'UTC', '--size-limit', '16KiB',
                      '--entries', '-q', '-o', dest])
    env = {k: os.environ[k] for k in PASSED if k in os.environ}
    start = time.monotonic()
    entries = lines.pipe(cmd, env=env, checkCode=True).collect()
    assert os.path.isdir(marker), 'no task attempt was made to fail'
    odd = [e for e in entries if not e.startswith('{')]
    assert not odd, f'shard-convert printed lines that are no index entries: {odd[:3]}'
    # each task's first line names the logical columns; the others are shards
    shards = [json.loads(e) for e in entries if 'shardkit' not in json.loads(e)]
    parts = {s['raw_data']['basename'].split('/')[0] for s in shards}
    assert len(parts) == PARTITIONS, f'{len(parts)} part directories in the entries, not {PARTITIONS}'
    print(f'ok: {dest}: {len(shards)} shard entries from {PARTITIONS} partitions, one attempt failed and ran '
          f'again ({time.monotonic() - start:.1f} s)')
    merged = subprocess.run([index, 'merge', '-q', '-o', dest, '-'], input=''.join(e + '\n' for e in entries),
                            text=True, capture_output=True)
    if merged.returncode:
        sys.exit(f'shard-index merge exited with status {merged.returncode}: {merged.stderr.strip()}')
    print(f'ok: {dest}: merged')


def recipe_job(df, bindir, dest, marker):
    """The same conversion through examples/spark_to_mds.py's to_mds(), which
    merges and prunes itself (its tasks get the driver's AWS_* variables)."""
    fail_once = ['sh', '-c', f'"$@" || exit; mkdir {shlex.quote(marker)} 2>/dev/null && exit 3; exit 0', 'sh']
    start = time.monotonic()
    to_mds(df, dest, SCHEMA, timezone='UTC', bindir=bindir, command_prefix=fail_once,
           extra_args=['--fill', 'note=<null>', '--size-limit', '16KiB'])
    assert os.path.isdir(marker), 'no task attempt was made to fail'
    print(f'ok: {dest}: to_mds wrote it, one attempt failed and ran again ({time.monotonic() - start:.1f} s)')


def main():
    bindir, master = sys.argv[1:3]
    jobs = list(zip(sys.argv[3::2], sys.argv[4::2]))
    spark = (SparkSession.builder.master(master).appName('shardkit-cluster-test')
             .config('spark.sql.session.timeZone', 'UTC')
             .config('spark.task.maxFailures', '4')
             .config('spark.executor.memory', '512m')
             .config('spark.driver.host', '127.0.0.1').config('spark.driver.bindAddress', '127.0.0.1')
             .config('spark.ui.enabled', 'false').config('spark.ui.showConsoleProgress', 'false').getOrCreate())
    df = spark.createDataFrame(rows(), spark_schema()).repartition(PARTITIONS, 'id').sortWithinPartitions('id')
    expected = sorted((tuple(r) for r in df.collect()), key=lambda r: r[0])
    lines = _exact_text(df).toJSON()
    assert lines.getNumPartitions() == PARTITIONS, lines.getNumPartitions()
    for i, (dest, marker) in enumerate(jobs):
        if dest.startswith('to_mds:'):
            jobs[i] = (dest[len('to_mds:'):], marker)
            recipe_job(df, bindir, *jobs[i])
        else:
            pipe_job(lines, bindir, dest, marker)
    spark.stop()

    for dest, _ in jobs:
        start = time.monotonic()
        got = sorted(read_rows(dest, len(expected)), key=lambda g: int(g['id']))
        assert len({int(g['id']) for g in got}) == len(got), 'a row came twice'
        check_rows(expected, got)
        print(f'ok: {dest}: {len(got)} rows read by StreamingDataset, each once, equal to the DataFrame\'s '
              f'({time.monotonic() - start:.1f} s)')


if __name__ == '__main__':
    main()
