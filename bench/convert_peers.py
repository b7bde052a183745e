"""The peers of shard-convert, on the same CSV export:
  mdswriter DIR OUT ROWS   Mosaic's MDSWriter fed row by row the way dataframe_to_mds does
                           (pandas chunks -> to_dict('records') -> writer.write), first ROWS rows
  spark DIR OUT FILES      dataframe_to_mds on pyspark local[2] over the first FILES part files
Prints 'rows seconds' on the last line."""
import glob
import os
import sys
import time

COLS = {f'f{j:02d}': 'float32' for j in range(20)}
COLS['label'] = 'int64'


def mdswriter(src, out, rows):
    import numpy as np
    import pandas as pd
    from streaming import MDSWriter
    t = time.time()
    n = 0
    with MDSWriter(out=out, columns=COLS, compression='zstd', hashes=['xxh64']) as w:
        for path in sorted(glob.glob(os.path.join(src, 'part-*.csv'))):
            for chunk in pd.read_csv(path, chunksize=100000, dtype={c: np.float32 for c in COLS if c != 'label'}):
                for rec in chunk.to_dict('records'):
                    if n == rows:
                        break
                    w.write({k: (np.float32(v) if k != 'label' else int(v)) for k, v in rec.items()})
                    n += 1
                if n == rows:
                    break
            if n == rows:
                break
    print(n, time.time() - t)


def spark(src, out, files):
    os.environ.setdefault('PYSPARK_PYTHON', sys.executable)
    from pyspark.sql import SparkSession
    from pyspark.sql import types as T
    from streaming.base.converters import dataframe_to_mds
    spark = (SparkSession.builder.master('local[2]').config('spark.ui.enabled', 'false')
             .config('spark.driver.memory', '4g').getOrCreate())
    schema = T.StructType([T.StructField(c, T.FloatType()) for c in COLS if c != 'label'] +
                          [T.StructField('label', T.LongType())])
    paths = sorted(glob.glob(os.path.join(src, 'part-*.csv')))[:int(files)]
    df = spark.read.schema(schema).option('header', True).csv(paths)
    rows = df.count()
    t = time.time()
    dataframe_to_mds(df, merge_index=True, mds_kwargs={'out': out, 'columns': COLS, 'compression': 'zstd',
                                                       'hashes': ['xxh64']})
    secs = time.time() - t
    spark.stop()
    print(rows, secs)


if __name__ == '__main__':
    {'mdswriter': mdswriter, 'spark': spark}[sys.argv[1]](sys.argv[2], sys.argv[3], int(sys.argv[4]))
