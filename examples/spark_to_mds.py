"""Spark DataFrame -> MDS dataset with shard-convert inside RDD.pipe().

Each Spark task streams its partition as JSON Lines (df.toJSON(), built in the
JVM) into its own shard-convert, which writes shards under a fresh
DEST/part-*/ directory and prints their index entries. The driver collects the
entries of the attempts that succeeded and `shard-index merge -o DEST -`
writes index.json from exactly those, so a failed, retried or speculative
attempt is never counted twice and its leftovers are never referenced.

Three details the recipe handles:
  * toJSON() writes timestamps to the millisecond: timestamp columns are
    formatted with all six fraction digits first.
  * pipe() ignores the command's exit status unless checkCode=True: without it
    a failed conversion would look like an empty partition.
  * pipe() gives the command only the environment passed as env= (none by
    default, so no PATH): the program is named by absolute path and PATH and
    LD_LIBRARY_PATH are passed on.

Usage as a script (a small demo on local[*]):
    python3 examples/spark_to_mds.py INPUT_CSV_DIR DEST 'id:int64,x:float32,...'
"""
import os
import shlex
import shutil
import subprocess
import sys


def find_program(name, hint=None):
    """Absolute path of a shardkit program: hint dir, then PATH."""
    if hint:
        path = os.path.join(hint, name)
        if os.access(path, os.X_OK):
            return os.path.abspath(path)
    path = shutil.which(name)
    if not path:
        raise FileNotFoundError(f'{name} not found on PATH; pass bindir=')
    return os.path.abspath(path)


def _full_precision(df):
    """toJSON() writes timestamps to the millisecond; keep Spark's microseconds."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
    cols = []
    for field in df.schema.fields:
        if isinstance(field.dataType, T.TimestampType):
            cols.append(F.date_format(F.col(field.name), "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX").alias(field.name))
        else:
            cols.append(F.col(field.name))
    return df.select(*cols)


def to_mds(df, dest, schema, bindir=None, extra_args=(), command_prefix=()):
    """Write DataFrame df as one MDS dataset at dest (a path every executor and
    the driver see), typed by schema ('name:type,...', see shard-convert(1)).
    Returns the merged dataset's directory."""
    convert = find_program('shard-convert', bindir)
    index = find_program('shard-index', bindir)
    cmd = list(command_prefix) + [convert, '-f', 'jsonl', '--schema', schema, '--entries', '-q',
                                  '-o', os.path.abspath(dest)] + list(extra_args)
    df = _full_precision(df)
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
           'LD_LIBRARY_PATH': os.environ.get('LD_LIBRARY_PATH', '')}
    entries = df.toJSON().pipe(shlex.join(cmd), env=env, checkCode=True).collect()
    subprocess.run([index, 'merge', '-q', '-o', os.path.abspath(dest), '-'],
                   input=''.join(e + '\n' for e in entries), text=True, check=True)
    return dest


def main():
    from pyspark.sql import SparkSession
    src, dest, schema = sys.argv[1:4]
    spark = SparkSession.builder.master('local[*]').appName('shardkit-to-mds').getOrCreate()
    df = spark.read.option('header', True).option('inferSchema', True).csv(src)
    to_mds(df, dest, schema)
    print(f'{dest}: {df.count()} rows')
    spark.stop()


if __name__ == '__main__':
    main()
