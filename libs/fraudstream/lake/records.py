"""Turn consumed JSON records into archive rows, generically.

Every field of a record becomes a column, so fields added to
:class:`~fraudstream.schemas.ScoredTransaction` later (such as a shadow score)
flow into the archive without a change here. A nested object (``features``) is
flattened into one column per entry, ``<field>.<name>``. Fields named ``*_time`` or
``*_at`` are RFC 3339 times and become UTC timestamps.

>>> row = to_row(
...     b'{"transaction_id": "t1", "event_time": "2024-04-01T12:00:00Z",'
...     b' "features": {"amount": 5.0}, "score": 0.2}',
...     SCORED,
... )
>>> sorted(row)
['event_time', 'features.amount', 'score', 'transaction_id']
>>> to_row(b'{"score": 1}', SCORED)
Traceback (most recent call last):
...
fraudstream.errors.SchemaError: record lacks transaction_id, event_time
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
import pandas as pd

from fraudstream.errors import SchemaError
from fraudstream.lake.store import SCORED, Table

__all__ = ["SCORED", "to_frame", "to_row"]


def to_row(value: bytes | None, table: Table) -> dict[str, Any]:
    """One archive row from a record's JSON value; SchemaError when it cannot be one."""
    if value is None:
        raise SchemaError("record has no value", "empty")
    try:
        decoded = msgspec.json.decode(value)
    except msgspec.DecodeError as exc:
        raise SchemaError(f"not JSON: {exc}", "not_json") from exc
    if not isinstance(decoded, dict):
        raise SchemaError("record is not a JSON object", "wrong_type")
    missing = [c for c in (*table.key, table.time_column) if decoded.get(c) in (None, "")]
    if missing:
        raise SchemaError(f"record lacks {', '.join(dict.fromkeys(missing))}", "missing_field")
    row: dict[str, Any] = {}
    for name, field in decoded.items():
        if isinstance(field, dict):
            for sub, sub_value in field.items():
                row[f"{name}.{sub}"] = sub_value
        elif isinstance(field, list):
            row[name] = msgspec.json.encode(field).decode()
        else:
            row[name] = field
    return row


def to_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a frame, with the time columns parsed (UTC)."""
    frame = pd.DataFrame.from_records(list(rows))
    for column in frame.columns:
        if column.endswith(("_time", "_at")):
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame
