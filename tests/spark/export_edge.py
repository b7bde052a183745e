"""A second Spark CSV export, written at test time by real Spark, with what the
bundled one lacks: nulls and empty strings, NaN and infinities, CR inside
values, bzip2 part files, no header, and partitionBy directories (with values Spark
must escape). Prints to EXPECTED the DataFrame's values as Spark's writer keeps
them (timestamps to the millisecond, which is all its CSV format holds), in
shard-cat's text form, nulls shown as the --fill values the test uses. Spark's
own CSV reader cannot be the reference here: reading this export back it turns
a CR inside a quoted value into LF and loses the rest of that row.
    export_edge.py OUTDIR EXPECTED
"""
import datetime as dt
import json
import sys

import numpy as np
from pyspark.sql import SparkSession
from pyspark.sql import types as T

out, expected = sys.argv[1:3]
spark = (SparkSession.builder.master('local[2]').config('spark.sql.session.timeZone', 'UTC')
         .config('spark.ui.enabled', 'false').getOrCreate())
schema = T.StructType([T.StructField('id', T.LongType()), T.StructField('s', T.StringType()),
                       T.StructField('x', T.DoubleType()), T.StructField('f', T.FloatType()),
                       T.StructField('b', T.BooleanType()), T.StructField('d', T.DateType()),
                       T.StructField('ts', T.TimestampType()), T.StructField('part', T.StringType())])
strings = [None, '', 'plain', 'cr\rinside', 'lf\ninside', 'crlf\r\ninside', 'q "x" and \\"y\\"', 'back\\slash\\',
           'ünï ✓', 'comma, here']
floats = [None, float('nan'), float('inf'), float('-inf'), -0.0, 1e-300, 0.1, 123456.789]
rows = []
for i in range(400):
    rows.append((i, strings[i % len(strings)], floats[i % len(floats)], float(np.float32(i / 7.0)),
                 None if i % 11 == 0 else i % 2 == 0, dt.date(2000, 1, 1) + dt.timedelta(days=i * 17),
                 dt.datetime(2021, 6, 1) + dt.timedelta(seconds=i * 7777, microseconds=i * 3),
                 ['alpha', 'beta gamma', 'δ/ε'][i % 3]))
df = spark.createDataFrame(rows, schema).repartition(3)
df.write.option('compression', 'bzip2').partitionBy('part').csv(out)

fills = {'s': '<null>', 'x': -1.0, 'b': False}
names = [f.name for f in schema.fields]


def text(name, v):
    if v is None:
        v = fills[name]
    if name in ('s', 'part'):
        return json.dumps(v, ensure_ascii=False)
    if name == 'x':
        return 'NaN' if v != v else 'Infinity' if v == float('inf') else '-Infinity' if v == float('-inf') else repr(v)
    if name == 'f':
        return str(np.float32(v))
    if name == 'b':
        return 'true' if v else 'false'
    if name == 'd':
        return json.dumps(v.isoformat())
    if name == 'ts':
        v = v.replace(microsecond=v.microsecond // 1000 * 1000)  # the writer's yyyy-MM-dd'T'HH:mm:ss.SSSXXX
        return json.dumps(v.strftime('%Y-%m-%dT%H:%M:%S.%fZ'))
    return str(v)


with open(expected, 'w') as f:
    for r in rows:
        d = dict(zip(names, r))
        f.write('{' + ','.join(json.dumps(k) + ':' + text(k, d[k]) for k in sorted(d)) + '}\n')
spark.stop()
