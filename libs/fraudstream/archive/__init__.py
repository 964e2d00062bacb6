"""The Parquet archive of what was served and what became known: date-partitioned
``scored`` and ``labels`` tables (:mod:`~fraudstream.archive.store`), filled by
``fraudstream archive`` from Kafka (:mod:`~fraudstream.archive.service`) or from a
dataset (:mod:`~fraudstream.archive.offline`)."""

from fraudstream.archive.store import read_labels, read_scored

__all__ = ["read_labels", "read_scored"]
