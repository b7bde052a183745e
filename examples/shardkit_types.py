"""Logical values and nulls for Mosaic Streaming readers of shardkit datasets.

shard-convert stores what MDS has no encoding for in plain columns and says
so in index.json (shard-mds(5), SHARDKIT EXTENSIONS):

    "shardkit": {"logical_types": {"active": "bool", "signup": "date", "seen": "timestamp"},
                 "validity": {"city": "city.valid", "seen": "seen.valid"}}

bool is uint8 0/1, date int32 days since 1970-01-01 (proleptic Gregorian),
timestamp int64 microseconds since 1970-01-01T00:00:00Z, and a nullable
column NAME has a uint8 column (validity names it) that is 0 where NAME is
null. StreamingDataset returns the stored values; this module gives them
their meaning back:

    from streaming import StreamingDataset
    from shardkit_types import ShardkitTypes

    types = ShardkitTypes.load('/data/ds')        # a local dataset directory
    ds = StreamingDataset(remote='s3://bucket/ds', local='/tmp/ds')
    row = types.decode(ds[0])
    # {'active': True, 'signup': datetime.date(2021, 3, 4), 'city': None,
    #  'seen': datetime.datetime(2024, 1, 1, 0, 0, 0, 13, tzinfo=datetime.timezone.utc), ...}

decode() gives bool for bool, datetime.date for date, a timezone-aware
datetime.datetime in UTC (to the microsecond) for timestamp, None for a null
(and leaves the validity columns out), Python int and float for NumPy
scalars; str_decimal stays decimal.Decimal as StreamingDataset decodes it,
and arrays stay NumPy arrays. Python's date and datetime reach from year 1
to 9999: a date or timestamp outside raises ValueError naming the column.

For training, batches stay tensors: PyTorch's default_collate batches the
stored values and their validity columns, and masks() turns the latter into
boolean masks:

    loader = DataLoader(ds, batch_size=256, collate_fn=types.collate(['x', 'label']))
    for batch in loader:
        ok = types.masks(batch)             # {'x': tensor([True, False, ...]), ...}
        x = torch.where(ok['x'], batch['x'], 0.0)

For a remote dataset, pass index.json's parsed contents (or its "shardkit"
object) to ShardkitTypes instead of a path.
"""
import datetime as dt
import json
import os

import numpy as np

EPOCH_DATE = dt.date(1970, 1, 1)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
LOGICAL_TYPES = ('bool', 'date', 'timestamp')


def load_index(path):
    """index.json of a local dataset directory (or the file itself), parsed."""
    if os.path.isdir(path):
        path = os.path.join(path, 'index.json')
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def to_date(days):
    """datetime.date of a stored date (days since 1970-01-01)."""
    return EPOCH_DATE + dt.timedelta(days=int(days))


def to_datetime(micros):
    """UTC datetime.datetime of a stored timestamp (microseconds since the
    epoch), exact to the microsecond."""
    return EPOCH + dt.timedelta(microseconds=int(micros))


class ShardkitTypes:
    """The logical types and validity columns of one dataset."""

    def __init__(self, meta=None):
        """meta: index.json's contents, or its "shardkit" object, or None for
        a dataset without any (every method then passes values through)."""
        meta = meta or {}
        if 'shardkit' in meta or 'shards' in meta:
            meta = meta.get('shardkit') or {}
        self.logical_types = dict(meta.get('logical_types') or {})
        self.validity = dict(meta.get('validity') or {})
        bad = {k: v for k, v in self.logical_types.items() if v not in LOGICAL_TYPES}
        if bad:
            raise ValueError(f'unknown logical types: {bad}')
        self._valid_columns = set(self.validity.values())

    @classmethod
    def load(cls, path):
        """From a local dataset directory or its index.json."""
        return cls(load_index(path))

    def nullable(self, column):
        """Whether column has a validity column (can hold nulls)."""
        return column in self.validity

    def is_validity(self, column):
        """Whether column is some column's validity column."""
        return column in self._valid_columns

    def decode_value(self, column, value):
        """One stored value of column as its logical Python value (not
        looking at nulls)."""
        kind = self.logical_types.get(column)
        try:
            if kind == 'bool':
                return bool(value)
            if kind == 'date':
                return to_date(value)
            if kind == 'timestamp':
                return to_datetime(value)
        except OverflowError:
            raise ValueError(f"column '{column}': {kind} {int(value)} is outside Python's years 1 to 9999") \
                from None
        if isinstance(value, np.generic):
            return value.item()
        return value

    def decode(self, sample):
        """A sample dict from StreamingDataset as logical Python values:
        None where a column is null, validity columns left out."""
        out = {}
        for column, value in sample.items():
            if column in self._valid_columns:
                continue
            valid = self.validity.get(column)
            if valid is not None and valid in sample and not sample[valid]:
                out[column] = None
            else:
                out[column] = self.decode_value(column, value)
        return out

    def columns_with_validity(self, columns):
        """columns, each nullable one followed by its validity column."""
        out = []
        for c in columns:
            out.append(c)
            if c in self.validity:
                out.append(self.validity[c])
        return out

    def masks(self, batch):
        """{column: boolean mask, True where the value is there} for the
        nullable columns in a batch from default_collate (tensors) or of
        NumPy arrays; the batch must hold the validity columns."""
        out = {}
        for column, valid in self.validity.items():
            if column in batch and valid in batch:
                out[column] = batch[valid] != 0
        return out

    def collate(self, columns):
        """A collate_fn for DataLoader that batches only these columns and
        their validity columns with default_collate (strings and decimals
        left out stay out of the way of tensors)."""
        return _Collate(self.columns_with_validity(columns))


class _Collate:
    """Picklable collate_fn: default_collate over some columns of each sample."""

    def __init__(self, columns):
        self.columns = list(columns)

    def __call__(self, samples):
        from torch.utils.data import default_collate
        return default_collate([{c: s[c] for c in self.columns} for s in samples])
