"""``fraudstream bench features``: the Redis feature store over the simulated data.

Batches of ``batch_size`` transactions go through :class:`RedisFeatureStore` (one Lua
call per batch: record, trim, read every window) and, as the same-run baseline,
through a bare pipeline that records each transaction for its card and merchant and
reads one count (three commands a transaction, no features). Each repeat also
backfills the same transactions into an empty store
(:func:`~fraudstream.features.backfill.backfill`: the history built from the frame,
its end state computed in bulk and written, fraud labels a label delay late included),
timed from the frame in memory to the last key written, so its rate stands beside the
live store's of the same run.
Given a Redis Cluster client as well, each repeat also runs the same batches through
:class:`~fraudstream.features.redis_cluster_store.RedisClusterFeatureStore`, so the two
modes' rates come from the same run (the cluster's figure is for correctness at scale,
not speed: on one machine its masters share the cores and a batch costs one call per
card slot and per merchant slot).
Every run uses fresh keys under its own prefix and deletes them afterwards.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import redis
from redis.cluster import RedisCluster

from fraudstream.features.backfill import backfill
from fraudstream.features.definitions import FeatureConfig
from fraudstream.features.history import history_from_frame
from fraudstream.features.redis_cluster_store import RedisClusterFeatureStore
from fraudstream.features.redis_store import RedisFeatureStore, delete_prefix
from fraudstream.features.store import FeatureRequest, requests_from_frame

_MEMORY_SAMPLE = 300


@dataclass(frozen=True)
class FeaturesBenchResult:
    """Figures of the feature store benchmark (medians over the repeats)."""

    transactions: int
    batch_size: int
    store_rates: list[float]
    bare_rates: list[float]
    backfill_rates: list[float]
    cluster_rates: list[float]  # empty without a cluster
    #: CPU microseconds a transaction of the store's runs: this process, the server(s)
    store_cpu_us: tuple[list[float], list[float]]
    cluster_cpu_us: tuple[list[float], list[float]]  # all masters together
    batch_p50_ms: float
    batch_p99_ms: float
    bytes_per_card: float
    bytes_per_merchant: float
    active_cards: int

    @property
    def store_rate(self) -> float:
        return statistics.median(self.store_rates)

    @property
    def bare_rate(self) -> float:
        return statistics.median(self.bare_rates)

    @property
    def ratio(self) -> float:
        return self.store_rate / self.bare_rate if self.bare_rate else 0.0

    @property
    def cluster_rate(self) -> float | None:
        """Median rate of the cluster store, None when no cluster was given."""
        return statistics.median(self.cluster_rates) if self.cluster_rates else None

    @property
    def cluster_ratio(self) -> float | None:
        """Cluster store over the single-node store, transactions a second."""
        rate = self.cluster_rate
        return rate / self.store_rate if rate is not None and self.store_rate else None

    @property
    def store_cpu(self) -> tuple[float, float]:
        """Median CPU µs a transaction of the single-node store: (client, server)."""
        return _medians(self.store_cpu_us)

    @property
    def cluster_cpu(self) -> tuple[float, float] | None:
        """Median CPU µs a transaction of the cluster store: (client, all masters)."""
        return _medians(self.cluster_cpu_us) if self.cluster_rates else None

    @property
    def backfill_rate(self) -> float:
        return statistics.median(self.backfill_rates)

    @property
    def backfill_ratio(self) -> float:
        """Backfill over the live store, transactions a second (goal >= 3)."""
        return self.backfill_rate / self.store_rate if self.store_rate else 0.0


def bench_features(
    client: redis.Redis,
    frame: pd.DataFrame,
    *,
    batch_size: int,
    repeats: int,
    cluster: RedisCluster | None = None,
) -> FeaturesBenchResult:
    """Run the store and the baseline ``repeats`` times each over ``frame`` (and the
    cluster store too, given ``cluster``)."""
    requests = requests_from_frame(frame)
    store_rates: list[float] = []
    bare_rates: list[float] = []
    backfill_rates: list[float] = []
    cluster_rates: list[float] = []
    store_cpu: tuple[list[float], list[float]] = ([], [])
    cluster_cpu: tuple[list[float], list[float]] = ([], [])
    latencies: list[float] = []
    bytes_per_card = bytes_per_merchant = 0.0
    for repeat in range(repeats):
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        try:
            store = RedisFeatureStore(client, FeatureConfig(), prefix=prefix)
            with _cpu_per_transaction(client, len(requests), store_cpu):
                rate, batch_seconds = _timed(store.process, requests, batch_size)
            store_rates.append(rate)
            latencies += batch_seconds
            if repeat == 0:
                bytes_per_card, bytes_per_merchant = _memory(client, prefix, requests)
        finally:
            delete_prefix(client, prefix)
        prefix = f"bench-bare-{uuid.uuid4().hex[:8]}"
        try:
            bare_rates.append(_timed(_bare_pipeline(client, prefix), requests, batch_size)[0])
        finally:
            delete_prefix(client, prefix)
        backfill_rates.append(_backfill_rate(client, frame))
        if cluster is not None:
            cluster_rates.append(_cluster_rate(cluster, requests, batch_size, cluster_cpu))
    return FeaturesBenchResult(
        transactions=len(requests),
        batch_size=batch_size,
        store_rates=store_rates,
        bare_rates=bare_rates,
        backfill_rates=backfill_rates,
        cluster_rates=cluster_rates,
        store_cpu_us=store_cpu,
        cluster_cpu_us=cluster_cpu,
        batch_p50_ms=float(np.percentile(latencies, 50) * 1000),
        batch_p99_ms=float(np.percentile(latencies, 99) * 1000),
        bytes_per_card=bytes_per_card,
        bytes_per_merchant=bytes_per_merchant,
        active_cards=len({r.card_id for r in requests if r.card_id}),
    )


Process = Callable[[Sequence[FeatureRequest]], object]


def _medians(cpu: tuple[list[float], list[float]]) -> tuple[float, float]:
    return statistics.median(cpu[0]), statistics.median(cpu[1])


def _backfill_rate(client: redis.Redis, frame: pd.DataFrame) -> float:
    """Transactions a second of a backfill of the whole frame into an empty store."""
    config = FeatureConfig()
    prefix = f"bench-backfill-{uuid.uuid4().hex[:8]}"
    until = pd.Timestamp(frame["event_time"].max()) + pd.Timedelta(1, unit="ms")
    try:
        started = time.perf_counter()
        history = history_from_frame(
            frame, until, label_delay=timedelta(milliseconds=config.label_delay_ms)
        )
        backfill(RedisFeatureStore(client, config, prefix=prefix), history)
        return len(frame) / (time.perf_counter() - started)
    finally:
        delete_prefix(client, prefix)


def _cluster_rate(
    cluster: RedisCluster,
    requests: Sequence[FeatureRequest],
    batch_size: int,
    cpu: tuple[list[float], list[float]],
) -> float:
    """Transactions a second of the cluster store over ``requests``, from empty keys."""
    prefix = f"bench-cluster-{uuid.uuid4().hex[:8]}"
    try:
        store = RedisClusterFeatureStore(cluster, FeatureConfig(), prefix=prefix)
        with _cpu_per_transaction(cluster, len(requests), cpu):
            return _timed(store.process, requests, batch_size)[0]
    finally:
        delete_prefix(cluster, prefix)


@contextmanager
def _cpu_per_transaction(
    client: redis.Redis | RedisCluster, transactions: int, into: tuple[list[float], list[float]]
) -> Iterator[None]:
    """Append the CPU microseconds a transaction this process and the Redis server(s)
    (``INFO cpu``, every master of a cluster) spent inside the block."""
    process, server = time.process_time(), _server_cpu(client)
    yield
    into[0].append((time.process_time() - process) / transactions * 1e6)
    into[1].append((_server_cpu(client) - server) / transactions * 1e6)


def _server_cpu(client: redis.Redis | RedisCluster) -> float:
    """Seconds of CPU the server has used, summed over a cluster's masters."""
    nodes: list[dict[str, Any]]
    if isinstance(client, RedisCluster):
        nodes = list(client.info("cpu", target_nodes=RedisCluster.PRIMARIES).values())
    else:
        nodes = [client.info("cpu")]
    return sum(float(n["used_cpu_user"]) + float(n["used_cpu_sys"]) for n in nodes)


def _timed(
    process: Process, requests: Sequence[FeatureRequest], batch_size: int
) -> tuple[float, list[float]]:
    batch_seconds: list[float] = []
    started = time.perf_counter()
    for begin in range(0, len(requests), batch_size):
        batch = requests[begin : begin + batch_size]
        t0 = time.perf_counter()
        process(batch)
        batch_seconds.append(time.perf_counter() - t0)
    return len(requests) / (time.perf_counter() - started), batch_seconds


def _bare_pipeline(client: redis.Redis, prefix: str) -> Process:
    def process(batch: Sequence[FeatureRequest]) -> list[object]:
        pipe = client.pipeline(transaction=False)
        for r in batch:
            pipe.zadd(f"{prefix}:c:{r.card_id}", {r.transaction_id: r.event_ms})
            pipe.zadd(f"{prefix}:m:{r.merchant_id}", {r.transaction_id: r.event_ms})
            pipe.zcount(f"{prefix}:c:{r.card_id}", r.event_ms - 86_400_000, r.event_ms)
        return pipe.execute()

    return process


def _memory(
    client: redis.Redis, prefix: str, requests: Sequence[FeatureRequest]
) -> tuple[float, float]:
    """Mean bytes of a card's keys and of a merchant's, from MEMORY USAGE on a sample."""
    cards = sorted({r.card_id for r in requests if r.card_id})[:_MEMORY_SAMPLE]
    merchants = sorted({r.merchant_id for r in requests if r.merchant_id})[:_MEMORY_SAMPLE]

    def usage(keys: list[str]) -> int:
        return sum(int(client.memory_usage(key) or 0) for key in keys)

    per_card = [usage([f"{prefix}:c:{c}:t", f"{prefix}:c:{c}:h"]) for c in cards]
    per_merchant = [
        usage([f"{prefix}:m:{m}:t", f"{prefix}:m:{m}:h", f"{prefix}:m:{m}:f"]) for m in merchants
    ]
    return (
        statistics.mean(per_card) if per_card else 0.0,
        statistics.mean(per_merchant) if per_merchant else 0.0,
    )
