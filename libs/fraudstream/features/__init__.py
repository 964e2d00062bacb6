"""Online features: per-card and per-merchant windows in event time.

:mod:`~fraudstream.features.definitions` names the features and their windows,
:mod:`~fraudstream.features.store` is the store interface, with a Redis
(:mod:`~fraudstream.features.redis_store`) and an in-memory
(:mod:`~fraudstream.features.memory_store`) implementation, and
:mod:`~fraudstream.features.reference` computes the same features from a pandas
frame (the offline path, and the yardstick of the tests).
:mod:`~fraudstream.features.backfill` fills a store from history in bulk. docs/features.md
is the specification.
"""
