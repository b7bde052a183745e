"""Reads a Spark CSV export with Spark itself (explicit schema, header, the
microsecond timestamp format it was written with) and prints each row in
shard-cat's JSON Lines text form, nulls as null, so that
`shard-convert ... | shard-cat` can be compared with Spark's own values.
    export_values.py EXPORT_DIR SCHEMA_FILE
"""
import datetime as dt
import json
import sys

import numpy as np
from pyspark.sql import SparkSession
from pyspark.sql import types as T

TYPES = {'int64': T.LongType(), 'int32': T.IntegerType(), 'int16': T.ShortType(), 'int8': T.ByteType(),
         'float32': T.FloatType(), 'float64': T.DoubleType(), 'str': T.StringType(),
         'bool': T.BooleanType(), 'date': T.DateType(), 'timestamp': T.TimestampType()}


def text(kind, v):
    if v is None:
        return 'null'
    if kind == 'float32':
        f = np.float32(v)
        return 'NaN' if np.isnan(f) else ('Infinity' if f > 0 else '-Infinity') if np.isinf(f) else str(f)
    if kind == 'float64':
        return 'NaN' if v != v else ('Infinity' if v > 0 else '-Infinity') if v in (float('inf'), float('-inf')) \
            else repr(float(v))
    if kind == 'bool':
        return 'true' if v else 'false'
    if kind == 'date':
        return json.dumps(v.isoformat())
    if kind == 'timestamp':
        return json.dumps(v.strftime('%Y-%m-%dT%H:%M:%S.%fZ'))
    if kind == 'str':
        return json.dumps(v, ensure_ascii=False)
    return str(int(v))


def main():
    src, schema_file = sys.argv[1:3]
    cols = [c.rstrip('?').split(':', 1) for c in open(schema_file).read().strip().split(',')]
    spark = (SparkSession.builder.master('local[1]').config('spark.sql.session.timeZone', 'UTC')
             .config('spark.ui.enabled', 'false').getOrCreate())
    schema = T.StructType([T.StructField(n, TYPES[t]) for n, t in cols])
    # Spark's reader takes a quoted empty field ("") for null too, unless its
    # nullValue is some other text: then only the unquoted empty field is null
    df = (spark.read.schema(schema).option('header', True).option('multiLine', True)
          .option('timestampFormat', "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXXXX").option('nullValue', '\u0001')
          .csv(src))
    order = sorted(range(len(cols)), key=lambda k: cols[k][0].encode())
    # one partition per file, files in name order: the order shard-convert reads them
    for row in df.toLocalIterator():
        print('{' + ','.join(json.dumps(cols[k][0]) + ':' + text(cols[k][1], row[k]) for k in order) + '}')
    spark.stop()


if __name__ == '__main__':
    main()
