"""Writes examples/spark-export: a small CSV export made by real Spark
(pyspark, local mode) the way data teams write them, with a header in every
part file, gzip compression and four part files; plus the schema to convert it
with in examples/spark-export.schema. Run with the interop environment's python:
    python examples/make-spark-export.py examples/spark-export

It is written with the writer options that keep every value (shard-convert(1),
"Writing the export from Spark"): Spark's defaults would cut timestamps to the
millisecond and trim the spaces around strings. city, active, signup and seen
are nullable and hold nulls; id, the features and label are not.
"""
import datetime as dt
import math
import random
import shutil
import sys

from pyspark.sql import SparkSession
from pyspark.sql import types as T

out = sys.argv[1] if len(sys.argv) > 1 else 'examples/spark-export'
spark = (SparkSession.builder.master('local[2]').appName('make-spark-export')
         .config('spark.sql.session.timeZone', 'UTC').config('spark.ui.enabled', 'false').getOrCreate())
rng = random.Random(7)
fields = [T.StructField('id', T.LongType(), False)]
fields += [T.StructField(f'f{j:02d}', T.FloatType(), False) for j in range(8)]
fields += [T.StructField('label', T.IntegerType(), False), T.StructField('city', T.StringType()),
           T.StructField('active', T.BooleanType()), T.StructField('signup', T.DateType()),
           T.StructField('seen', T.TimestampType())]
cities = ['Zürich', 'São Paulo', 'New York, NY', 'Quote "Town"', 'Back\\slash', 'Two\nLines', '  Padded  ',
          ' Lead', 'Trail ', '']
rows = []
for i in range(4000):
    feats = [rng.gauss(0, 1) for _ in range(8)]
    label = int(sum(feats[:3]) > 0)
    rows.append((i, *feats, label, None if i % 11 == 5 else cities[i % len(cities)],
                 None if i % 13 == 6 else i % 3 != 0,
                 None if i % 17 == 7 else dt.date(2020, 1, 1) + dt.timedelta(days=i % 1500),
                 None if i % 19 == 8 else dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=i * 4567, microseconds=i * 13)))
df = spark.createDataFrame(rows, T.StructType(fields)).repartition(4)
shutil.rmtree(out, ignore_errors=True)
(df.write.option('header', True).option('compression', 'gzip')
 .option('timestampFormat', "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXXXX")
 .option('ignoreLeadingWhiteSpace', False).option('ignoreTrailingWhiteSpace', False).csv(out))
spark.stop()
with open(out + '.schema', 'w') as f:
    f.write('id:int64,' + ','.join(f'f{j:02d}:float32' for j in range(8)) +
            ',label:int32,city:str?,active:bool?,signup:date?,seen:timestamp?\n')
