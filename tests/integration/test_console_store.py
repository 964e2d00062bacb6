"""The console's state in a real Redis and on the test Redis Cluster: the alert queue, a
card's transactions read back from the feature store, and verdicts (once per change,
with an audit trail, taken back when the label cannot be published); the console's
services over the cluster the scorers write."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from kafka.errors import KafkaTimeoutError
from prometheus_client import CollectorRegistry
from redis.cluster import RedisCluster

from fraudstream.config import RedisSettings, Settings
from fraudstream.console.ingest import IngestMetrics, run_ingest
from fraudstream.console.queue import AlertFilter, AlertQueue, key_base
from fraudstream.console.services import ConsoleServices
from fraudstream.console.verdicts import VerdictDesk, review_key
from fraudstream.errors import ServiceUnavailableError
from fraudstream.features.recent import CardTransaction, recent_card_transactions
from fraudstream.features.redis_store import scan_keys
from fraudstream.features.redis_stores import redis_feature_store
from fraudstream.features.store import FeatureRequest, FraudReport
from fraudstream.harness.scorer import TopicWatcher, committed_offsets, delete_keys, wait_until
from fraudstream.kafka.producer import build_producer
from fraudstream.redis_client import AnyRedis, build_any_redis
from fraudstream.schemas import Alert, alert_id_for
from fraudstream.scoring.decide import RedisAlertBudget
from fraudstream.testing.samples import sample_scored

START = datetime(2024, 4, 1, 12, 0, tzinfo=UTC)
DAY_MS = 86_400_000


@pytest.fixture(params=["redis", "redis-cluster"])
def client(request: pytest.FixtureRequest, redis_url: str) -> Iterator[AnyRedis]:
    """A client of the test Redis, or of the test Redis Cluster."""
    settings = (
        request.getfixturevalue("cluster_settings")
        if request.param == "redis-cluster"
        else RedisSettings(url=redis_url, cluster_nodes="")
    )
    client = build_any_redis(settings)
    yield client
    client.close()


def _alert(tx: str, *, minutes: int = 0, score: float = 0.9, merchant: str = "m-1") -> Alert:
    return Alert(
        alert_id=alert_id_for(tx),
        transaction_id=tx,
        card_id="card-1",
        merchant_id=merchant,
        amount=100.0,
        score=score,
        threshold=0.5,
        model_version="cold-start-1",
        reasons=["amount"],
        event_time=START + timedelta(minutes=minutes),
        scored_at=START,
    )


def _queue(client: AnyRedis, prefix: str, max_alerts: int = 100) -> AlertQueue:
    return AlertQueue(client, prefix, max_alerts=max_alerts, retention_ms=DAY_MS)


def test_the_queue_is_newest_first_filtered_and_trimmed(client: AnyRedis, prefix: str) -> None:
    queue = _queue(client, prefix, max_alerts=4)
    alerts = [
        _alert(f"tx-{i}", minutes=i, score=0.5 + i / 10, merchant=f"m-{i % 2}") for i in range(5)
    ]
    queue.add(alerts, [])
    queue.add(alerts[:2], [])  # read again: changes nothing
    assert queue.size() == 4  # the oldest went
    assert [a.transaction_id for a in queue.newest(10)] == ["tx-4", "tx-3", "tx-2", "tx-1"]
    assert [a.transaction_id for a in queue.newest(2)] == ["tx-4", "tx-3"]
    assert [a.transaction_id for a in queue.newest(10, AlertFilter(min_score=0.75))] == [
        "tx-4",
        "tx-3",
    ]
    assert [a.transaction_id for a in queue.newest(10, AlertFilter(merchant_id="m-1"))] == [
        "tx-3",
        "tx-1",
    ]
    window = AlertFilter(since=START + timedelta(minutes=2), until=START + timedelta(minutes=3))
    assert [a.transaction_id for a in queue.newest(10, window)] == ["tx-3", "tx-2"]
    assert queue.get("alert:tx-4") == alerts[4]
    assert queue.get("alert:nope") is None


def test_served_features_are_kept_for_alerted_transactions(client: AnyRedis, prefix: str) -> None:
    queue = _queue(client, prefix)
    served = sample_scored(
        transaction_id="tx-1", features={"amount": 100.0, "card_tx_count_1h": 3.0}
    )
    queue.add([_alert("tx-1")], [served])
    assert queue.served_features("alert:tx-1") == {"amount": 100.0, "card_tx_count_1h": 3.0}
    assert queue.served_features("alert:tx-2") == {}


def test_a_cards_transactions_are_read_back_with_their_amounts(
    client: AnyRedis, prefix: str
) -> None:
    store = redis_feature_store(client, prefix=prefix)
    start_ms = int(START.timestamp() * 1000)
    cents = [1250, 399, 10_000, 1]
    store.process(
        [
            FeatureRequest(f"tx-{i}", start_ms + i * 60_000, c, card_id="card-1", merchant_id="m")
            for i, c in enumerate(cents)
        ]
    )
    recent = recent_card_transactions(client, prefix, "card-1", limit=3)
    assert [(t.transaction_id, t.amount) for t in recent] == [
        ("tx-3", 0.01),
        ("tx-2", 100.0),
        ("tx-1", 3.99),
    ]
    assert recent[0].event_time == START + timedelta(minutes=3)
    everything = recent_card_transactions(client, prefix, "card-1", limit=10)
    assert [t.amount for t in everything] == [0.01, 100.0, 3.99, 12.5]
    assert recent_card_transactions(client, prefix, "card-none") == []


@pytest.fixture
def desk_settings(make_settings: Any) -> Settings:
    settings: Settings = make_settings("verdicts")
    return settings


@pytest.fixture
def desk(client: AnyRedis, prefix: str, desk_settings: Settings) -> Iterator[VerdictDesk]:
    """A verdict desk publishing to this test's labels topic with a real producer."""
    kafka = desk_settings.kafka
    producer = build_producer(kafka)
    yield VerdictDesk(
        client, producer, labels_topic=kafka.labels_topic, prefix=prefix, retention_ms=DAY_MS
    )
    producer.close(timeout=10)


def test_a_verdict_is_published_once_per_change_with_an_audit_trail(
    desk: VerdictDesk, desk_settings: Settings
) -> None:
    kafka = desk_settings.kafka
    alert = _alert("tx-1")
    first = desk.give(alert, "fraud", "ann")
    assert first.changed
    assert not desk.give(alert, "fraud", "bob").changed  # same verdict: nothing
    assert desk.give(alert, "genuine", "bob").changed
    trail = desk.trail(alert.alert_id)
    assert [(e.verdict, e.analyst, e.previous) for e in trail] == [
        ("fraud", "ann", None),
        ("genuine", "bob", "fraud"),
    ]
    with TopicWatcher(kafka.servers, kafka.labels_topic) as watcher:
        watcher.wait_for(2, 20)
        watcher.settle(quiet_s=0.5)
        labels = [msgspec.json.decode(r.value) for r in watcher.records]
        keys = [r.key for r in watcher.records]
    assert [(x["is_fraud"], x["analyst"], x["source"]) for x in labels] == [
        (True, "ann", "investigator"),
        (False, "bob", "investigator"),
    ]
    assert keys == [b"card-1", b"card-1"]


def test_the_cardholders_review_labels_each_shown_transaction_once_per_change(
    desk: VerdictDesk, desk_settings: Settings
) -> None:
    kafka = desk_settings.kafka
    shown = ["tx-a", "tx-b", "tx-c"]
    assert desk.review("card-1", shown, {"tx-b"}, "ann") == 3
    assert desk.review("card-1", shown, {"tx-b"}, "ann") == 0  # the same review: nothing
    assert desk.review("card-1", shown, {"tx-b", "tx-c"}, "bob") == 1  # tx-c changed
    history = [CardTransaction(tx, START, 1.0) for tx in shown]
    assert desk.reviewed(history) == {"tx-a": "genuine", "tx-b": "fraud", "tx-c": "fraud"}
    assert [e.analyst for e in desk.trail(review_key("tx-c"))] == ["ann", "bob"]
    with TopicWatcher(kafka.servers, kafka.labels_topic) as watcher:
        watcher.wait_for(4, 20)
        watcher.settle(quiet_s=0.5)
        labels = [msgspec.json.decode(r.value) for r in watcher.records]
    assert [(x["transaction_id"], x["is_fraud"], x["source"]) for x in labels] == [
        ("tx-a", False, "investigator"),
        ("tx-b", True, "investigator"),
        ("tx-c", False, "investigator"),
        ("tx-c", True, "investigator"),
    ]


class _Failing:
    """A producer whose sends never get acknowledged."""

    def send(self, topic: str, **kwargs: Any) -> Any:
        raise KafkaTimeoutError("not acknowledged")


def test_a_verdict_that_cannot_be_published_is_taken_back(client: AnyRedis, prefix: str) -> None:
    desk = VerdictDesk(client, _Failing(), labels_topic="t", prefix=prefix, retention_ms=DAY_MS)
    alert = _alert("tx-1")
    with pytest.raises(ServiceUnavailableError, match="labels topic"):
        desk.give(alert, "fraud", "ann")
    assert desk.trail(alert.alert_id) == []
    assert desk.current(alert.alert_id) is None
    # the same click later, with Kafka back, is a change again
    assert client.hget(f"{key_base(client, prefix)}:verdict:{alert.alert_id}", "verdict") is None


def test_the_consumer_stores_committed_alerts_only_and_commits(
    client: AnyRedis, prefix: str, desk_settings: Settings
) -> None:
    kafka = desk_settings.kafka
    settings = desk_settings.model_copy(
        update={
            "console": desk_settings.console.model_copy(
                update={"group_id": f"test-console-{uuid.uuid4().hex[:8]}", "key_prefix": prefix}
            )
        }
    )
    for txs, abort in ((["kept-1", "kept-2"], False), (["aborted"], True)):
        producer = build_producer(kafka, transactional_id=f"test-{uuid.uuid4().hex}")
        try:
            producer.init_transactions()
            producer.begin_transaction()
            for tx in txs:
                value = msgspec.json.encode(_alert(tx))
                producer.send(kafka.alerts_topic, value=value, key=b"card-1")
            producer.flush()
            producer.abort_transaction() if abort else producer.commit_transaction()
        finally:
            producer.close(timeout=10)
    queue = _queue(client, prefix)
    stop = threading.Event()
    thread = threading.Thread(
        target=run_ingest, args=(settings, queue, IngestMetrics(CollectorRegistry()), stop)
    )
    thread.start()
    try:
        assert wait_until(lambda: queue.size() >= 2, 30), queue.size()
        group = settings.console.group_id
        assert wait_until(
            lambda: committed_offsets(kafka.servers, group, kafka.alerts_topic) > 0, 10
        )
    finally:
        stop.set()
        thread.join(20)
    assert sorted(a.transaction_id for a in queue.newest(10)) == ["kept-1", "kept-2"]


def test_on_a_cluster_the_consoles_keys_share_one_slot(client: AnyRedis, prefix: str) -> None:
    queue = _queue(client, prefix)
    desk = VerdictDesk(client, _Failing(), labels_topic="t", prefix=prefix, retention_ms=DAY_MS)
    queue.add([_alert(f"tx-{i}") for i in range(20)], [sample_scored(transaction_id="tx-1")])
    with pytest.raises(ServiceUnavailableError):
        desk.give(_alert("tx-1"), "fraud", "ann")
    keys = [k.decode() for k in scan_keys(client, f"{prefix}:*")]  # every master
    assert len(keys) == 22  # the queue, 20 alerts, one served record
    if isinstance(client, RedisCluster):
        assert all(k.startswith(f"{prefix}:{{{prefix}}}:") for k in keys)
        assert len({client.keyslot(k) for k in keys}) == 1  # type: ignore[no-untyped-call]
    else:  # one Redis: the names of before, untagged
        assert f"{prefix}:queue" in keys
        assert f"{prefix}:alert:{alert_id_for('tx-1')}" in keys


def test_the_console_reads_what_the_scorers_wrote_on_a_cluster(
    make_settings: Any, cluster_settings: RedisSettings
) -> None:
    settings: Settings = make_settings(
        "console-cluster",
        REDIS_CLUSTER_NODES=cluster_settings.cluster_nodes,
        SCORER_ALERT_BUDGET_PER_DAY="10",
        CONSOLE_KEY_PREFIX=f"test-console-{uuid.uuid4().hex[:10]}",
    )
    prefix = settings.features.key_prefix
    services = ConsoleServices.build(settings, insecure_local=True)
    try:
        client = services.client
        assert isinstance(client, RedisCluster)
        # what the scorers and the learner write: features, budget, frauds
        store = redis_feature_store(client, prefix=prefix)
        start_ms = int(START.timestamp() * 1000)
        store.process(
            [
                FeatureRequest(
                    f"tx-{i}", start_ms + i * 60_000, 100, card_id="card-1", merchant_id="m"
                )
                for i in range(3)
            ]
        )
        store.report_frauds([FraudReport("tx-0", "m", start_ms)])
        RedisAlertBudget(client, prefix).reserve(START.date().isoformat(), 3, 10)

        budget = services.context.budget(START)
        assert (budget.used, budget.per_day) == (3, 10)
        history = services.context.card_history("card-1")
        assert [t.transaction_id for t in history] == ["tx-2", "tx-1", "tx-0"]
        later = _alert("tx-later", minutes=7 * 24 * 60 + 180, merchant="m")
        share = services.context.merchant_share(later)
        assert share is not None
        assert share.shares["1d"] == pytest.approx(1 / 3)
        # and its own state, on the cluster too
        services.queue.add([_alert("tx-1")], [])
        assert [a.transaction_id for a in services.queue.newest(5)] == ["tx-1"]
        assert services.desk.trail(alert_id_for("tx-1")) == []
    finally:
        services.close()
        delete_keys(settings.redis, settings.console.key_prefix)
