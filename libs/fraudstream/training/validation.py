"""Checks a training set must pass before a model is trained on it.

Each check gives ``{"name", "ok", "detail"}``; :func:`validate_training_set` returns
the report when all pass and raises :class:`~fraudstream.errors.DataValidationError`
(carrying the same report) when any fails.

- ``rows`` fails when the set is empty;
- ``schema`` when a required column is missing, there is no feature column, or a
  feature column is not numeric;
- ``null_rate`` when a feature column has more missing values than
  ``TRAIN_MAX_NULL_RATE``;
- ``fraud_rate`` when the share of frauds is outside
  ``[TRAIN_MIN_FRAUD_RATE, TRAIN_MAX_FRAUD_RATE]``;
- ``time_order`` when event times are not in order, a label is older than its
  transaction, or one became known after the cutoff.

>>> import pandas as pd
>>> frame = pd.DataFrame(
...     {
...         "transaction_id": ["a", "b"],
...         "card_id": ["c", "c"],
...         "event_time": pd.to_datetime(["2024-04-01", "2024-04-02"], utc=True),
...         "labelled_at": pd.to_datetime(["2024-04-08", "2024-04-09"], utc=True),
...         "is_fraud": [False, True],
...         "features.amount": [1.0, 2.0],
...     }
... )
>>> rules = Rules(min_fraud_rate=0.0, max_fraud_rate=0.6, max_null_rate=0.0)
>>> validate_training_set(frame, rules)["ok"]
True
>>> try:
...     validate_training_set(frame, Rules(0.0, 0.1, 0.0))
... except DataValidationError as exc:
...     print(exc.report["checks"][3]["detail"])
fraud rate 0.500000 (1 of 2) outside [0.0, 0.1]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from fraudstream.errors import DataValidationError
from fraudstream.training.dataset import LABEL, feature_columns

#: Columns every training set has besides its features.
REQUIRED_COLUMNS = ("transaction_id", "card_id", "event_time", "labelled_at", LABEL)


@dataclass(frozen=True)
class Rules:
    """The bounds checked (``TRAIN_*`` settings)."""

    min_fraud_rate: float
    max_fraud_rate: float
    max_null_rate: float
    cutoff: pd.Timestamp | None = None


def _check(name: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "ok": bool(ok), "detail": detail}


def _schema(frame: pd.DataFrame) -> dict[str, Any]:
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    features = feature_columns(frame)
    bad = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    problems = []
    if missing:
        problems.append(f"missing columns {missing}")
    if not features:
        problems.append("no feature column (features.*)")
    if bad:
        problems.append(f"non-numeric feature columns {bad}")
    detail = "; ".join(problems) or f"{len(features)} feature columns"
    return _check("schema", not problems, detail)


def _null_rate(frame: pd.DataFrame, max_rate: float) -> dict[str, Any]:
    features = feature_columns(frame)
    rates = frame[features].isna().mean() if features else pd.Series(dtype=float)
    over = {c: round(float(r), 6) for c, r in rates.items() if r > max_rate}
    worst = float(rates.max()) if len(rates) else 0.0
    if over:
        return _check("null_rate", False, f"null rate above {max_rate} in {over}")
    return _check("null_rate", True, f"highest null rate {worst:.6f} <= {max_rate}")


def _fraud_rate(frame: pd.DataFrame, low: float, high: float) -> dict[str, Any]:
    frauds = int(frame[LABEL].sum())
    rate = frauds / len(frame)
    detail = f"fraud rate {rate:.6f} ({frauds} of {len(frame)})"
    ok = low <= rate <= high
    return _check("fraud_rate", ok, detail + ("" if ok else f" outside [{low}, {high}]"))


def _time_order(frame: pd.DataFrame, cutoff: pd.Timestamp | None) -> dict[str, Any]:
    times = pd.to_datetime(frame["event_time"], utc=True)
    labelled = pd.to_datetime(frame["labelled_at"], utc=True)
    problems = []
    if not times.is_monotonic_increasing:
        problems.append("event times are not in increasing order")
    early = int((labelled < times).sum())
    if early:
        problems.append(f"{early} labels known before their transaction")
    if cutoff is not None:
        late = int((labelled > cutoff).sum())
        if late:
            problems.append(f"{late} labels known after the cutoff {cutoff.isoformat()}")
    detail = "; ".join(problems) or f"{times.min().isoformat()} .. {times.max().isoformat()}"
    return _check("time_order", not problems, detail)


def validate_training_set(frame: pd.DataFrame, rules: Rules) -> dict[str, Any]:
    """Run every check; return the report, or raise DataValidationError with it."""
    if frame.empty:
        checks = [_check("rows", False, "no labelled transaction in the window")]
    else:
        checks = [_check("rows", True, f"{len(frame)} rows"), _schema(frame)]
        if checks[-1]["ok"]:
            checks += [
                _null_rate(frame, rules.max_null_rate),
                _fraud_rate(frame, rules.min_fraud_rate, rules.max_fraud_rate),
                _time_order(frame, rules.cutoff),
            ]
    report: dict[str, Any] = {
        "ok": all(c["ok"] for c in checks),
        "rows": len(frame),
        "frauds": int(frame[LABEL].sum()) if LABEL in frame.columns else 0,
        "checks": checks,
    }
    if not report["ok"]:
        raise DataValidationError(report)
    return report
