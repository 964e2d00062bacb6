"""``fraudstream score`` as a process: settings in, a running scorer out."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

import redis
import structlog
from prometheus_client import CollectorRegistry
from redis.exceptions import RedisClusterException

from fraudstream.config import Settings
from fraudstream.errors import ServiceUnavailableError
from fraudstream.features.definitions import FeatureConfig
from fraudstream.features.redis_stores import redis_feature_store
from fraudstream.kafka.admin import ensure_topics
from fraudstream.models.snapshots import SNAPSHOT_CHECK_S, SnapshotStore
from fraudstream.monitoring.drift import DriftMonitor
from fraudstream.observability.health import Health
from fraudstream.observability.http import ObservabilityServer
from fraudstream.redis_client import AnyRedis, build_any_redis, check_redis
from fraudstream.registry.client import Registry
from fraudstream.registry.loading import load_candidate
from fraudstream.registry.watcher import RegistryWatcher
from fraudstream.scoring.decide import Decider
from fraudstream.scoring.holder import ModelHolder
from fraudstream.scoring.markers import AlertMarkers
from fraudstream.scoring.metrics import ScorerMetrics
from fraudstream.scoring.scorer import Scorer, ScorerTopics
from fraudstream.signals import stop_on_signals
from fraudstream.streaming.loop import Backoff, Delivery, LoopConfig, LoopMetrics, StreamLoop

log = structlog.get_logger(__name__)

#: Seconds between Redis health probes.
REDIS_PROBE_INTERVAL_S: Final = 2.0


def build_scorer_loop(
    settings: Settings,
    registry: CollectorRegistry,
    health: Health,
    watcher: RegistryWatcher | None = None,
) -> tuple[StreamLoop, AnyRedis]:
    """The scorer's loop and the Redis client it uses (close both when done): a Redis
    Cluster's client when ``REDIS_CLUSTER_NODES`` is set, with the cluster feature store.

    ``watcher`` follows the registry's champion and challenger; without one the scorer
    serves the online model only.
    """
    kafka, scorer, features = settings.kafka, settings.scorer, settings.features
    client = build_any_redis(settings.redis)
    prefix = features.key_prefix
    step = Scorer(
        topics=ScorerTopics(
            alerts=kafka.alerts_topic, scored=kafka.scored_topic, dlq=kafka.dlq_topic
        ),
        store=redis_feature_store(client, FeatureConfig.from_settings(features), prefix=prefix),
        models=ModelHolder(SnapshotStore(client, prefix), watcher, check_every_s=SNAPSHOT_CHECK_S),
        decider=Decider(
            scorer.threshold,
            budget_per_day=scorer.alert_budget_per_day,
            client=client,
            prefix=prefix,
        ),
        markers=AlertMarkers(client, prefix, int(scorer.alert_marker_ttl.total_seconds() * 1000)),
        metrics=ScorerMetrics(registry),
        health=health,
        drift=DriftMonitor(registry, client=client, prefix=prefix),
    )
    config = LoopConfig(
        group_id=scorer.group_id,
        topics=(kafka.transactions_topic,),
        transactional_id=f"{kafka.client_id}-scorer-{scorer.instance_id}",
        delivery=Delivery(scorer.delivery),
        max_poll_records=scorer.max_poll_records,
        transaction_timeout_ms=int(scorer.transaction_timeout.total_seconds() * 1000),
        session_timeout_ms=int(scorer.session_timeout.total_seconds() * 1000),
        group_instance_id=scorer.instance_id if scorer.static_membership else None,
    )
    loop = StreamLoop(kafka, config, step, health=health, metrics=LoopMetrics(registry, "scorer"))
    return loop, client


def run_scorer(settings: Settings, stop: threading.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop``): finish the batch, commit, return.

    Kafka or Redis down at start-up is waited for (not-ready on /healthz meanwhile).
    """
    stop = stop or threading.Event()
    kafka = settings.kafka
    registry = CollectorRegistry()
    health = Health(["kafka", "redis"])
    watcher = registry_watcher(settings) if settings.scorer.follow_registry else None
    loop, client = build_scorer_loop(settings, registry, health, watcher)
    server = ObservabilityServer(
        registry, health, settings.scorer.http_host, settings.scorer.http_port
    )
    probe = threading.Thread(
        target=_watch_redis, args=(client, health, stop), name="redis-health", daemon=True
    )
    probe.start()
    try:
        topics = [kafka.transactions_topic, kafka.alerts_topic, kafka.scored_topic, kafka.dlq_topic]
        with stop_on_signals(stop):
            if watcher is not None:
                watcher.start(stop)
            ready = _until_up(
                "redis", lambda: check_redis(client, settings.redis), health, stop
            ) and _until_up("kafka", lambda: ensure_topics(kafka, topics), health, stop)
            if ready:
                log.info("scorer started", metrics_port=server.port, topic=kafka.transactions_topic)
                loop.run(stop)
    finally:
        stop.set()
        probe.join(timeout=5)
        server.close()
        client.close()
        log.info("scorer stopped")


def registry_watcher(settings: Settings) -> RegistryWatcher:
    """A watcher of the MLflow registry's champion and challenger aliases."""
    mlflow = settings.mlflow
    return RegistryWatcher(
        Registry(mlflow.tracking_uri, mlflow.registered_model_name),
        lambda candidate: load_candidate(candidate, mlflow.tracking_uri),
        champion_alias=mlflow.champion_alias,
        challenger_alias=mlflow.challenger_alias,
        interval_s=mlflow.alias_poll_interval.total_seconds(),
    )


def _until_up(
    service: str, attempt: Callable[[], object], health: Health, stop: threading.Event
) -> bool:
    """Run ``attempt`` until it succeeds, retrying while ``service`` is unavailable.

    False if stopped first; a :class:`~fraudstream.errors.ConfigError` (a refused
    password) is raised at once: retrying would not help.
    """
    backoff = Backoff(0.5, 10.0)
    while not stop.is_set():
        try:
            attempt()
        except ServiceUnavailableError as exc:
            health.down(service, str(exc))
            log.warning(f"{service} unavailable at start-up, retrying", error=str(exc))
            backoff.wait(stop)
            continue
        return True
    return False


def _watch_redis(client: AnyRedis, health: Health, stop: threading.Event) -> None:
    """Keep the Redis check of /healthz current, also while no records arrive."""
    while not stop.is_set():
        try:
            client.ping()
        except (redis.RedisError, RedisClusterException) as exc:
            health.down("redis", str(exc))
        else:
            health.up("redis")
        stop.wait(REDIS_PROBE_INTERVAL_S)
