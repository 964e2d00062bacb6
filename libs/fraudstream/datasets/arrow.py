"""pandas frames as Arrow tables, for every Parquet file fraudstream writes.

pyarrow's ``pa.Table.from_pandas`` reads ``Series.values`` of a timezone-aware column,
which pandas 3 deprecates (it will return the ``DatetimeArray``, not the UTC values).
:func:`arrow_table` builds the same table without that read.
"""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa

__all__ = ["arrow_table"]


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """``frame`` as an Arrow table, as ``pa.Table.from_pandas(frame, preserve_index=False)``
    builds it (same types, timezones and pandas metadata), without its deprecated read of
    ``Series.values`` on timezone-aware columns: those are handed over as UTC values
    and given back their timezone on the Arrow side.

    >>> frame = pd.DataFrame({"at": pd.to_datetime(["2024-04-01 10:00", None], utc=True)})
    >>> table = arrow_table(frame)
    >>> str(table.schema.field("at").type)
    'timestamp[us, tz=UTC]'
    >>> table.to_pandas()["at"].equals(frame["at"])
    True
    """
    aware = [c for c in frame.columns if isinstance(frame[c].dtype, pd.DatetimeTZDtype)]
    if not aware:
        return pa.Table.from_pandas(frame, preserve_index=False)
    naive = frame.copy(deep=False)
    for column in aware:
        naive[column] = frame[column].dt.tz_convert(None)
    table = pa.Table.from_pandas(naive, preserve_index=False)
    for column in aware:
        dtype = frame[column].dtype
        assert isinstance(dtype, pd.DatetimeTZDtype)  # for the type checker: chosen above
        index = table.schema.get_field_index(column)
        field = table.schema.field(index).with_type(pa.timestamp(dtype.unit, tz=str(dtype.tz)))
        table = table.set_column(index, field, table.column(index).cast(field.type))
    return table.replace_schema_metadata(_aware_metadata(table.schema.metadata, frame, aware))


def _aware_metadata(
    metadata: dict[bytes, bytes] | None, frame: pd.DataFrame, aware: list[str]
) -> dict[bytes, bytes]:
    """The pandas metadata of a table built from UTC values, describing the columns of
    ``aware`` as timezone-aware again (as pyarrow writes them)."""
    found = dict(metadata or {})
    pandas_meta = json.loads(found.get(b"pandas", b"{}"))
    for entry in pandas_meta.get("columns", []):
        if entry.get("field_name") in aware:
            entry["pandas_type"] = "datetimetz"
            entry["metadata"] = {"timezone": str(frame[entry["field_name"]].dtype.tz)}
    found[b"pandas"] = json.dumps(pandas_meta).encode()
    return found
