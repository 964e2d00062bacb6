"""What a run report is built from: the served records and the labels, as two frames.

From Kafka (``transactions.scored`` and ``labels``, ``read_committed``, every
partition from the beginning up to the end offsets when called), or from a Parquet
archive folder (``<path>/scored/...`` and ``<path>/labels/...``, the archiver's
date-partitioned layout; a column named ``features.X`` or ``X`` is a feature).

``scored`` has one row per transaction (the last one served, should a transaction
have been scored twice): ``transaction_id``, ``event_time``, ``scored_at`` (UTC),
``score``, ``alert``, ``model_version``, ``latency_s`` (Kafka timestamp to scoring),
``shadow_score`` when present, and one column per feature. ``labels`` has
``transaction_id`` and ``is_fraud``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import orjson
import pandas as pd

from fraudstream.config import KafkaSettings
from fraudstream.errors import DataFileError
from fraudstream.kafka.consumer import read_to_end
from fraudstream.kafka.errors import TopicNotFoundError

#: Columns of ``transactions.scored`` that are not model inputs.
RECORD_FIELDS: Final = frozenset(
    {
        "schema_version",
        "transaction_id",
        "card_id",
        "merchant_id",
        "event_time",
        "score",
        "threshold",
        "alert",
        "model_version",
        "scored_at",
        "partition",
        "offset",
        "source_timestamp_ms",
        "shadow_score",
        "shadow_model_version",
        "date",
    }
)


@dataclass(frozen=True)
class ReportData:
    """The served records and labels of a run or time range."""

    scored: pd.DataFrame
    labels: pd.DataFrame
    source: str

    @property
    def feature_columns(self) -> list[str]:
        """Model inputs present in the served records."""
        return [c for c in self.scored.columns if c not in RECORD_FIELDS and c != "latency_s"]

    def between(self, start: datetime | None, end: datetime | None) -> ReportData:
        """Only transactions with ``start <= event_time < end`` (either may be open)."""
        keep = pd.Series(True, index=self.scored.index)
        if start is not None:
            keep &= self.scored["event_time"] >= pd.Timestamp(start)
        if end is not None:
            keep &= self.scored["event_time"] < pd.Timestamp(end)
        scored = self.scored[keep]
        labels = self.labels[self.labels["transaction_id"].isin(scored["transaction_id"])]
        return ReportData(scored.reset_index(drop=True), labels.reset_index(drop=True), self.source)


def _values(kafka: KafkaSettings, topic: str, timeout_s: float) -> list[bytes]:
    """Every committed value of ``topic`` up to its end offsets now (see the module doc).

    Also stops after 3 s without a record: some brokers report end offsets a reader
    never reaches (see :func:`~fraudstream.kafka.consumer.read_to_end`).
    """
    try:
        records = read_to_end(kafka, topic, timeout_s=timeout_s, idle_s=3.0, role="report")
    except TopicNotFoundError:
        raise DataFileError(topic, "no such topic on the broker") from None
    return [r.value for r in records if r.value is not None]


def from_kafka(kafka: KafkaSettings, timeout_s: float = 60.0) -> ReportData:
    """The run's served records and labels, read from Kafka with ``kafka``'s security
    settings; a topic not read to its end within ``timeout_s`` is a
    :class:`~fraudstream.kafka.errors.ReadTimeoutError`."""
    scored = [_flatten(orjson.loads(v)) for v in _values(kafka, kafka.scored_topic, timeout_s)]
    labels = [orjson.loads(v) for v in _values(kafka, kafka.labels_topic, timeout_s)]
    source = f"kafka {kafka.bootstrap_servers}: {kafka.scored_topic}, {kafka.labels_topic}"
    return _normalise(pd.DataFrame(scored), pd.DataFrame(labels), source)


def from_archive(path: Path) -> ReportData:
    """The served records and labels of a Parquet archive folder."""
    scored_dir, labels_dir = path / "scored", path / "labels"
    for folder in (scored_dir, labels_dir):
        if not folder.is_dir():
            raise DataFileError(folder, "not found: an archive has scored/ and labels/ folders")
    scored = pd.read_parquet(scored_dir)
    scored = scored.rename(columns=lambda c: str(c).removeprefix("features."))
    scored = scored.loc[:, ~scored.columns.duplicated(keep="last")]  # amount is both
    return _normalise(scored, pd.read_parquet(labels_dir), f"archive {path}")


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    features = record.pop("features", None) or {}
    return {**features, **record}


def _normalise(scored: pd.DataFrame, labels: pd.DataFrame, source: str) -> ReportData:
    if scored.empty:
        raise DataFileError(source, "no scored transactions")
    missing = {"transaction_id", "event_time", "scored_at", "score", "alert"} - set(scored.columns)
    if missing:
        raise DataFileError(source, f"scored records lack {sorted(missing)}")
    scored = scored.drop(columns=[c for c in ("date",) if c in scored.columns])
    scored["event_time"] = pd.to_datetime(scored["event_time"], utc=True, format="ISO8601")
    scored["scored_at"] = pd.to_datetime(scored["scored_at"], utc=True, format="ISO8601")
    scored = scored.sort_values("scored_at", kind="stable").drop_duplicates(
        "transaction_id", keep="last"
    )
    if "source_timestamp_ms" in scored.columns:
        sent = pd.to_datetime(scored["source_timestamp_ms"], unit="ms", utc=True)
        scored["latency_s"] = (scored["scored_at"] - sent).dt.total_seconds().clip(lower=0)
    if labels.empty:
        labels = pd.DataFrame({"transaction_id": pd.Series(dtype=str), "is_fraud": []})
    labels = labels[["transaction_id", "is_fraud"]].drop_duplicates("transaction_id", keep="last")
    labels = labels.assign(is_fraud=labels["is_fraud"].astype(bool))
    return ReportData(scored.reset_index(drop=True), labels.reset_index(drop=True), source)
