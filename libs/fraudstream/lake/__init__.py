"""The Parquet lake of what was served and what became known: date-partitioned
``scored`` and ``labels`` tables (:mod:`~fraudstream.lake.store`), the rows the
archiver writes (:mod:`~fraudstream.lake.records`), and a lake written straight from a
dataset (:mod:`~fraudstream.lake.offline`). Training reads it; ``fraudstream archive``
(:mod:`fraudstream.archive`) fills it from Kafka."""

from fraudstream.lake.store import read_labels, read_scored

__all__ = ["read_labels", "read_scored"]
