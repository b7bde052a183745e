"""Spark DataFrame -> MDS dataset, with shard-convert in every Spark task.

    from spark_to_mds import to_mds
    to_mds(df, '/shared/ds')                        # typed from df.schema
    to_mds(df, '/shared/ds', mode='overwrite', fills={'city': 'unknown'},
           overrides={'price': 'float64', 'emb': 'ndarray:float32:64'})

Each Spark task streams its partition as JSON Lines (df.toJSON(), built in the
JVM) into its own shard-convert, which writes shards under a fresh
DEST/part-*/ directory and prints their index entries. The driver collects the
entries of the attempts that succeeded and `shard-index merge -o DEST -`
writes index.json from exactly those, so a failed, retried or speculative
attempt is never counted twice; the part-* directories that index.json does
not reference (what such attempts left) are then removed.

What the recipe takes care of:
  * The schema is Spark's own: df.schema.json() goes to shard-convert's
    --schema-from, so every field Spark marks nullable keeps its nulls (a
    NAME.valid column, see shard-mds(5)). With `overrides`, the recipe writes
    the --schema list itself from df.schema (the same mapping, '?' for
    nullable fields) with the overridden columns' types replaced.
  * Dates and timestamps are written by the recipe, not by toJSON(), which
    writes timestamps to the millisecond in the session time zone (losing the
    seconds of old zone offsets) and shifts dates in the 1582 Julian/Gregorian
    gap: a date column goes as its yyyy-MM-dd text (Spark's proleptic
    Gregorian cast), a timestamp column as UTC text with six fraction digits
    and a Z, computed from unix_micros() by integer arithmetic, so the value
    is exact whatever the session time zone. TIMESTAMP_NTZ goes as its wall
    clock text, read as UTC.
  * A failed task names itself: the partition's shard-convert runs under
    mapPartitionsWithIndex() with its standard error captured (RDD.pipe()
    in PySpark is the same Python loop around a subprocess, but lets the
    message go to the executor's log), and the driver's exception,
    ConversionError, names the partition, the attempt, the exit status and
    what shard-convert said. Spark still retries failed attempts as usual.
  * shard-convert runs with only PATH and LD_LIBRARY_PATH from the driver's
    environment, named by absolute path (bindir=, else PATH).

DEST is a local or shared file system path that the driver and every executor
see. Usage as a script (a small demo on local[*]):
    python3 examples/spark_to_mds.py INPUT_CSV_DIR DEST [--schema LIST]
        [--mode error|overwrite] [--fill COL=VALUE] [--override COL=TYPE]
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading

MODES = ('error', 'errorifexists', 'overwrite')

# Spark type names (DataType.typeName()) -> shard-convert types, as
# shard-convert --schema-from maps them (shard-convert(1)).
_TYPES = {'long': 'int64', 'integer': 'int32', 'short': 'int16', 'byte': 'int8',
          'float': 'float32', 'double': 'float64', 'string': 'str', 'varchar': 'str', 'char': 'str',
          'boolean': 'bool', 'date': 'date', 'timestamp': 'timestamp', 'timestamp_ntz': 'timestamp',
          'binary': 'bytes', 'decimal': 'str_decimal'}
_ELEMENTS = {'float': 'float32', 'double': 'float64', 'integer': 'int32', 'long': 'int64',
             'short': 'int16', 'byte': 'int8'}
_MARK, _END = 'shardkit task failed: ', ' :end of shardkit task failure'
_DAY_US = 86_400_000_000


class ConversionError(RuntimeError):
    """A Spark task's shard-convert failed on every attempt Spark allowed: the
    message names the partition, the attempt and shard-convert's own words."""


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


def shard_type(data_type):
    """The shard-convert type of a Spark DataType (no '?')."""
    name = data_type.typeName()
    if name == 'array':
        return 'ndarray:' + _ELEMENTS[data_type.elementType.typeName()] \
            if data_type.elementType.typeName() in _ELEMENTS else 'json'
    if name in ('map', 'struct'):
        return 'json'
    if name not in _TYPES:
        raise ValueError(f'Spark type {data_type.simpleString()} has no MDS encoding')
    return _TYPES[name]


def schema_list(schema, overrides=None):
    """A --schema list ('name:type?,...') for a Spark StructType: Spark's
    nullable fields get '?'; overrides maps a column to the type to write it
    as instead (shard-convert(1) Types; a '?' there is kept, else the field's
    nullability is added)."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(schema.fieldNames())
    if unknown:
        raise ValueError(f'overrides name columns the DataFrame does not have: {", ".join(sorted(unknown))}')
    cols = []
    for f in schema.fields:
        if re.search('[,:=]', f.name):
            raise ValueError(f"column name {f.name!r} cannot be used (',', ':' and '=' are reserved)")
        t = overrides.get(f.name) or shard_type(f.dataType)
        if f.nullable and not t.endswith('?'):
            t += '?'
        cols.append(f'{f.name}:{t}')
    return ','.join(cols)


def _exact_text(df):
    """df with its date and timestamp columns as the text shard-convert reads
    exactly (see the module's docstring); other columns as they are."""
    from pyspark.sql import functions as F

    def pad(col, width):
        return F.lpad(col.cast('string'), width, '0')

    cols = []
    for field in df.schema.fields:
        c, kind = F.col(f'`{field.name}`'), field.dataType.typeName()
        if kind == 'date':
            c = c.cast('string')
        elif kind == 'timestamp':
            us = F.unix_micros(c)
            tod = F.pmod(us, F.lit(_DAY_US))
            # a whole number of days: the double quotient is within 1e-9 of it
            day = F.date_from_unix_date(F.round((us - tod) / F.lit(_DAY_US)).cast('int'))
            c = F.concat(day.cast('string'), F.lit('T'), pad(F.floor(tod / 3_600_000_000), 2), F.lit(':'),
                         pad(F.floor(tod / 60_000_000) % 60, 2), F.lit(':'),
                         pad(F.floor(tod / 1_000_000) % 60, 2), F.lit('.'), pad(tod % 1_000_000, 6), F.lit('Z'))
        elif kind == 'timestamp_ntz':
            c = F.concat(c.cast('string'), F.lit('Z'))
        else:
            cols.append(c)
            continue
        cols.append(c.alias(field.name))
    return df.select(*cols)


def _convert_partitions(cmd, env):
    """The function mapPartitionsWithIndex() runs: the partition's JSON lines
    into one shard-convert, its index entries out; on failure, an exception
    whose text the driver finds (_MARK ... _END)."""
    def convert(index, lines):
        from pyspark import TaskContext
        ctx = TaskContext.get()
        attempt = ctx.attemptNumber() if ctx else 0
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        errors, fed = [], []

        def feed():
            try:
                for line in lines:
                    proc.stdin.write(line.encode('utf-8') + b'\n')
            except BrokenPipeError:
                pass  # shard-convert stopped early: its status and message say why
            except BaseException as e:  # noqa: B902 - the partition's own rows failed
                fed.append(e)
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass

        def drain():
            for line in proc.stderr:
                sys.stderr.buffer.write(line)  # the executor's log keeps it too
                errors.append(line)
                del errors[:-50]

        threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=drain, daemon=True)]
        for t in threads:
            t.start()
        out = proc.stdout.read()
        for t in threads:
            t.join()
        status = proc.wait()
        if fed:
            raise fed[0]
        if status:
            said = b''.join(errors).decode('utf-8', 'replace').strip() or '(nothing on standard error)'
            raise RuntimeError(f'{_MARK}partition {index} (attempt {attempt}): {os.path.basename(cmd[0])} '
                               f'exited with status {status}: {said}{_END}')
        return out.decode('utf-8').splitlines()
    return convert


def _task_failure(exc):
    """The last task failure message in a Spark job's exception, or None."""
    text = str(exc)
    start = text.rfind(_MARK)
    end = text.find(_END, start)
    return text[start + len(_MARK):end] if start >= 0 and end > start else None


def _prepare(dest, mode):
    if mode not in MODES:
        raise ValueError(f'mode {mode!r}: use one of {", ".join(MODES)}')
    if mode == 'overwrite':
        if os.path.isdir(dest) and not os.path.islink(dest):
            shutil.rmtree(dest)
        elif os.path.lexists(dest):
            os.remove(dest)
    elif os.path.lexists(dest) and (not os.path.isdir(dest) or os.listdir(dest)):
        what = 'a dataset' if os.path.exists(os.path.join(dest, 'index.json')) else 'files'
        raise FileExistsError(f"{dest} already holds {what} (mode='error'); pass mode='overwrite' to replace it")
    os.makedirs(dest, exist_ok=True)


def _remove_parts(dest, keep=()):
    """Remove the part-* directories under dest that are not in keep."""
    for name in os.listdir(dest):
        path = os.path.join(dest, name)
        if name.startswith('part-') and name not in keep and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)


def _fill_text(v):
    """A --fill value as shard-convert reads it."""
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, float) and not math.isfinite(v):
        return 'NaN' if math.isnan(v) else 'Infinity' if v > 0 else '-Infinity'
    return v.isoformat() if hasattr(v, 'isoformat') else str(v)


def to_mds(df, dest, schema=None, *, fills=None, overrides=None, timezone=None, mode='error', bindir=None,
           extra_args=(), command_prefix=()):
    """Write DataFrame df as one MDS dataset at dest, a directory the driver
    and every executor see; returns dest.

    schema     None: typed from df.schema (--schema-from). A 'name:type,...'
               string (shard-convert(1)) types it by hand, as before.
    fills      {column: value}: written where the column is null (--fill);
               other nullable fields keep their nulls.
    overrides  {column: shard-convert type}, e.g. {'price': 'float64'}: the
               recipe then passes an explicit --schema built from df.schema.
    timezone   the session's spark.sql.session.timeZone by default; passed
               as --timezone when this shard-convert has it. Timestamps are
               written as exact UTC instants either way.
    mode       'error' (also 'errorifexists'): refuse a dest that holds a
               dataset or any file; 'overwrite': remove dest first.
    bindir     where shard-convert and shard-index are (else PATH).
    extra_args more shard-convert options; command_prefix runs shard-convert
               through another command (tests use it to fail an attempt).

    A task that fails on every attempt raises ConversionError naming the
    partition and shard-convert's message; the part-* directories of this
    run are then removed, and dest holds no index.json.
    """
    if schema is not None and overrides:
        raise ValueError('overrides apply to the schema taken from df.schema, not to an explicit schema')
    convert = find_program('shard-convert', bindir)
    index = find_program('shard-index', bindir)
    dest = os.path.abspath(dest)
    if schema is not None:
        typing = ['--schema', schema]
    elif overrides:
        typing = ['--schema', schema_list(df.schema, overrides)]
    else:
        typing = ['--schema-from', df.schema.json()]
    for col, value in (fills or {}).items():
        typing += ['--fill', f'{col}={_fill_text(value)}']
    if timezone is None:
        timezone = df.sparkSession.conf.get('spark.sql.session.timeZone')
    helptext = subprocess.run([convert, '--help'], capture_output=True, text=True).stdout
    if timezone and '--timezone' in helptext:
        typing += ['--timezone', timezone]
    cmd = list(command_prefix) + [convert, '-f', 'jsonl', *typing, '--entries', '-q', '-o', dest,
                                  *extra_args]
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
           'LD_LIBRARY_PATH': os.environ.get('LD_LIBRARY_PATH', '')}
    _prepare(dest, mode)
    try:
        entries = _exact_text(df).toJSON().mapPartitionsWithIndex(_convert_partitions(cmd, env)).collect()
    except Exception as e:
        _remove_parts(dest)
        said = _task_failure(e)
        if said is None:
            raise
        raise ConversionError(said) from e
    merged = subprocess.run([index, 'merge', '-q', '-o', dest, '-'], input=''.join(e + '\n' for e in entries),
                            text=True, capture_output=True)
    if merged.returncode:
        raise RuntimeError(f'shard-index merge exited with status {merged.returncode}: {merged.stderr.strip()}')
    with open(os.path.join(dest, 'index.json')) as f:
        used = {s['raw_data']['basename'].split('/')[0] for s in json.load(f)['shards']}
    _remove_parts(dest, keep=used)
    return dest


def main():
    import argparse
    from pyspark.sql import SparkSession
    p = argparse.ArgumentParser(description='Convert a CSV export (header, inferred schema) with to_mds().')
    p.add_argument('src')
    p.add_argument('dest')
    p.add_argument('--schema', help="shard-convert's NAME:TYPE list instead of df.schema")
    p.add_argument('--mode', default='error', choices=MODES)
    p.add_argument('--fill', action='append', default=[], metavar='COL=VALUE')
    p.add_argument('--override', action='append', default=[], metavar='COL=TYPE')
    a = p.parse_args()
    spark = SparkSession.builder.master('local[*]').appName('shardkit-to-mds').getOrCreate()
    df = spark.read.option('header', True).option('inferSchema', True).csv(a.src)
    to_mds(df, a.dest, a.schema, mode=a.mode, fills=dict(x.split('=', 1) for x in a.fill),
           overrides=dict(x.split('=', 1) for x in a.override))
    print(f'{a.dest}: {df.count()} rows')
    spark.stop()


if __name__ == '__main__':
    main()
