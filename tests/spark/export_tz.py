"""Timestamps through a real Spark CSV export written in a session time zone
that is not UTC (America/New_York): microseconds, local mean time (1850), dates
before the Gregorian switch (1582), both sides of DST changes, and partitionBy
on a timestamp column, whose directory values Spark writes as local wall-clock
text with no offset. Fields carry their offset (the XXXXX pattern writes
seconds where the offset has them, as in -04:56:02).

Writes OUTDIR and prints to EXPECTED, in shard-cat's text form (UTC with Z):
  ts: the DataFrame's own instants, from df.collect() (as UTC microseconds);
  p:  what Spark itself reads back from the partition directories, which for a
      wall-clock time that happens twice is the earlier instant.
Every difference between the two is printed on stdout, each with its reason.
    export_tz.py OUTDIR EXPECTED
"""
import datetime as dt
import json
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

out, expected = sys.argv[1:3]
ZONE = 'America/New_York'
FMT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXXXX"
spark = (SparkSession.builder.master('local[2]').config('spark.sql.session.timeZone', ZONE)
         .config('spark.ui.enabled', 'false').getOrCreate())

EPOCH = dt.datetime(1970, 1, 1)


def micros(*a):
    """UTC microseconds of a civil UTC time (Python's calendar is proleptic Gregorian)."""
    return (dt.datetime(*a) - EPOCH) // dt.timedelta(microseconds=1)


instants = [
    micros(2024, 7, 1, 12, 34, 56, 123456),
    micros(1969, 12, 31, 23, 59, 59, 999999),
    micros(1970, 1, 1),
    # local mean time, -04:56:02, and the switch to EST at noon 1883-11-18
    micros(1850, 6, 1, 12, 0, 0, 250000),
    micros(1883, 11, 18, 16, 59, 59),
    micros(1883, 11, 18, 17, 0, 0),
    # around and before the Gregorian switch of 1582-10-15
    micros(1582, 10, 10, 12, 0, 0),
    micros(1582, 10, 4, 23, 0, 0),
    micros(1582, 10, 15, 4, 56, 2),
    micros(1000, 3, 1, 0, 0, 0, 1),
    # the spring gap of 2024-03-10 (02:00 EST -> 03:00 EDT = 07:00Z)
    micros(2024, 3, 10, 6, 59, 59, 999999),
    micros(2024, 3, 10, 7, 0, 0),
    micros(2024, 3, 10, 7, 30, 0),
    # the autumn overlap of 2024-11-03: 01:30 EDT (05:30Z), then 01:30 EST (06:30Z)
    micros(2024, 11, 3, 5, 30, 0),
    micros(2024, 11, 3, 5, 59, 59, 999999),
    micros(2024, 11, 3, 6, 0, 0),
    micros(2024, 11, 3, 6, 30, 0),
    # war time, and the footer's rule far past the file's transitions
    micros(1943, 6, 1, 12, 0, 0),
    micros(2100, 3, 14, 7, 0, 0),
    micros(2399, 11, 7, 5, 30, 0, 5),
]
df = (spark.createDataFrame(list(enumerate(instants)), 'id long, us long')
      .select('id', F.timestamp_micros('us').alias('ts'), F.timestamp_micros('us').alias('p')))
rows = df.select('id', 'ts', F.unix_micros('ts').alias('us')).collect()
df.repartition(2).write.option('header', True).option('timestampFormat', FMT).partitionBy('p').csv(out)

# what Spark reads back from its own export: the partition values are cast in the session zone
back = {r['id']: r for r in spark.read.schema('id long, ts timestamp, p timestamp').option('header', True)
        .option('timestampFormat', FMT).csv(out)
        .select('id', F.unix_micros('ts').alias('ts'), F.unix_micros('p').alias('p')).collect()}


def text(us):
    t = EPOCH + dt.timedelta(microseconds=us)
    return '%04d-%02d-%02dT%02d:%02d:%02d.%06dZ' % (t.year, t.month, t.day, t.hour, t.minute, t.second,
                                                     t.microsecond)


with open(expected, 'w') as f:
    for r in rows:
        # collect() gives naive datetimes in the process's zone: TZ=UTC here
        assert r['ts'] == EPOCH + dt.timedelta(microseconds=r['us']), (r['ts'], r['us'])
        b = back[r['id']]
        if b['ts'] != r['us']:
            print('ts %s: Spark reads back %s' % (text(r['us']), text(b['ts'])))
        if b['p'] != r['us']:
            print('p %s: Spark reads back %s' % (text(r['us']), text(b['p'])))
        f.write(json.dumps({'id': r['id'], 'p': text(b['p']), 'ts': text(r['us'])}, separators=(',', ':'),
                           sort_keys=True) + '\n')
spark.stop()
