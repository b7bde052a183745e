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
    NAME.valid column, see shard-mds(5)); `overrides` become --type COL=TYPE,
    which keeps a field's nullability.
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
see, or an s3://BUCKET/PREFIX URL: each task then PUTs its shards straight
into the bucket under DEST/part-*/, the driver PUTs index.json, and what
failed attempts left is deleted with `shard-index prune`. The AWS_* and
SHARDKIT_* variables of the driver's environment (credentials, endpoint,
region) go to every task's shard-convert. Usage as a script (a small demo on local[*]):
    python3 examples/spark_to_mds.py INPUT_CSV_DIR DEST [--schema LIST]
        [--mode error|overwrite] [--fill COL=VALUE] [--override COL=TYPE]
"""
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

MODES = ('error', 'errorifexists', 'overwrite')

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


def column_name(name):
    """A column as shard-convert's options name it: in backquotes (a backquote
    doubled) when it holds ',', ':', '=' or a backquote (shard-convert(1))."""
    if re.search('[,:=`]', name) or name.startswith(' '):
        return '`' + name.replace('`', '``') + '`'
    return name


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
        def die_with_parent():
            # in the child: SIGTERM when the task's Python worker dies (Linux),
            # so a killed or cancelled task's shard-convert removes its shards
            # rather than finish a partial part at the end of its input
            try:
                import ctypes
                ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
            except (OSError, AttributeError):
                pass

        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, preexec_fn=die_with_parent)
        errors, fed = [], []

        def feed():
            try:
                for line in lines:
                    proc.stdin.write(line.encode('utf-8') + b'\n')
            except BrokenPipeError:
                pass  # shard-convert stopped early: its status and message say why
            except BaseException as e:  # noqa: B902 - the partition's own rows failed
                fed.append(e)
                # not an end of input: the shards of a partial partition go
                # (shard-convert removes them on SIGTERM)
                proc.terminate()
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


def _wait_for_tasks(sc, group, timeout=60.0):
    """Wait (at most timeout seconds) until no task of the job group runs."""
    tracker = sc.statusTracker()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stages = []
        for job in tracker.getJobIdsForGroup(group):
            info = tracker.getJobInfo(job)
            stages += list(info.stageIds) if info else []
        active = sum(getattr(tracker.getStageInfo(st), 'numActiveTasks', 0) or 0 for st in stages)
        if not active:
            return
        time.sleep(0.2)


def _is_s3(dest):
    return dest.startswith('s3://')


def _prepare(dest, mode):
    if mode not in MODES:
        raise ValueError(f'mode {mode!r}: use one of {", ".join(MODES)}')
    if _is_s3(dest):
        # shard-convert refuses a DEST holding index.json in every task
        if mode == 'overwrite':
            raise ValueError(f"{dest}: mode='overwrite' does not apply to s3:// (delete the old dataset's "
                             "index.json, write, then run shard-index prune)")
        return
    if mode == 'overwrite':
        if os.path.isdir(dest) and not os.path.islink(dest):
            shutil.rmtree(dest)
        elif os.path.lexists(dest):
            os.remove(dest)
    elif os.path.lexists(dest) and (not os.path.isdir(dest) or os.listdir(dest)):
        what = 'a dataset' if os.path.exists(os.path.join(dest, 'index.json')) else 'files'
        raise FileExistsError(f"{dest} already holds {what} (mode='error'); pass mode='overwrite' to replace it")
    os.makedirs(dest, exist_ok=True)


def _remove_parts(dest, keep=(), index=None, env=None):
    """Remove the part-* directories under dest that are not in keep (for
    s3://, what index.json does not reference, or every shard without one)."""
    if _is_s3(dest):
        subprocess.run([index, 'prune', '-q', dest], env=env, capture_output=True)
        return
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
    overrides  {column: shard-convert type}, e.g. {'price': 'float64'}:
               passed as --type (with a schema string too).
    timezone   the session's spark.sql.session.timeZone by default, passed
               as --timezone (for text without an offset); timestamps are
               written as exact UTC instants.
    mode       'error' (also 'errorifexists'): refuse a dest that holds a
               dataset or any file; 'overwrite': remove dest first.
    bindir     where shard-convert and shard-index are (else PATH).
    extra_args more shard-convert options; command_prefix runs shard-convert
               through another command (tests use it to fail an attempt).

    A task that fails on every attempt raises ConversionError naming the
    partition and shard-convert's message; the part-* directories of this
    run are then removed, and dest holds no index.json.
    """
    convert = find_program('shard-convert', bindir)
    index = find_program('shard-index', bindir)
    if not _is_s3(dest):
        dest = os.path.abspath(dest)
    typing = ['--schema', schema] if schema is not None else ['--schema-from', df.schema.json()]
    unknown = set(overrides or {}) - set(df.schema.fieldNames())
    if unknown:
        raise ValueError(f'overrides name columns the DataFrame does not have: {", ".join(sorted(unknown))}')
    for col, t in (overrides or {}).items():
        typing += ['--type', f'{column_name(col)}={t}']
    for col, value in (fills or {}).items():
        typing += ['--fill', f'{column_name(col)}={_fill_text(value)}']
    if timezone is None:
        timezone = df.sparkSession.conf.get('spark.sql.session.timeZone')
    if timezone:
        typing += ['--timezone', timezone]
    cmd = list(command_prefix) + [convert, '-f', 'jsonl', *typing, '--entries', '-q', '-o', dest,
                                  *extra_args]
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
           'LD_LIBRARY_PATH': os.environ.get('LD_LIBRARY_PATH', '')}
    if _is_s3(dest):
        env.update({k: v for k, v in os.environ.items() if k.startswith(('AWS_', 'SHARDKIT_'))})
    _prepare(dest, mode)
    sc = df.sparkSession.sparkContext
    group = f'shardkit-to-mds-{os.getpid()}-{id(df)}-{time.monotonic_ns()}'
    props = ('spark.jobGroup.id', 'spark.job.description', 'spark.job.interruptOnCancel')
    saved = {k: sc.getLocalProperty(k) for k in props}
    sc.setJobGroup(group, f'to_mds {dest}', interruptOnCancel=True)
    try:
        entries = _exact_text(df).toJSON().mapPartitionsWithIndex(_convert_partitions(cmd, env)).collect()
    except Exception as e:
        for k, v in saved.items():
            sc.setLocalProperty(k, v)
        # the job failed: its other tasks may still be writing parts; cancel
        # them and wait until none runs before removing what they wrote
        sc.cancelJobGroup(group)
        _wait_for_tasks(sc, group)
        _remove_parts(dest, index=index, env=env)
        said = _task_failure(e)
        if said is None:
            raise
        raise ConversionError(said) from e
    for k, v in saved.items():
        sc.setLocalProperty(k, v)
    merged = subprocess.run([index, 'merge', '-q', '-o', dest, '-'], input=''.join(e + '\n' for e in entries),
                            text=True, capture_output=True, env=env if _is_s3(dest) else None)
    if merged.returncode:
        raise RuntimeError(f'shard-index merge exited with status {merged.returncode}: {merged.stderr.strip()}')
    if _is_s3(dest):
        _remove_parts(dest, index=index, env=env)
        return dest
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
