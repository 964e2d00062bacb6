"""The streaming scorer with ``REDIS_CLUSTER_NODES`` set: features, snapshots, markers
and the budget on the test Redis Cluster (``REDIS_CLUSTER_TEST_NODES``), a real Kafka.

A replay where the frauds are obvious yields exactly their alerts and the card counts
one Redis would give; the card's history reads back from the tagged keys, which the
cluster spreads over its masters.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from fraudstream.config import RedisSettings, Settings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.features.recent import recent_card_transactions
from fraudstream.harness.kafka import read_topic
from fraudstream.harness.scorer import ScorerThread, TopicWatcher
from fraudstream.redis_client import build_redis_cluster
from fraudstream.replay.plan import Pace, ReplayOptions
from fraudstream.replay.service import replay
from fraudstream.schemas import Alert, ScoredTransaction
from fraudstream.testing.streams import card_tx_counts, obvious_frauds


@pytest.fixture
def settings(make_settings: Callable[..., Settings], cluster_settings: RedisSettings) -> Settings:
    """A scorer's settings in cluster mode; its keys are deleted from the cluster after."""
    return make_settings("cluster", REDIS_CLUSTER_NODES=cluster_settings.cluster_nodes)


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_a_scorer_on_the_cluster_alerts_exactly_the_obvious_frauds(
    settings: Settings, tmp_path: Path
) -> None:
    frame = obvious_frauds(cards=40, per_card=4)
    path = tmp_path / "obvious.parquet"
    write_parquet_atomic(frame, path)
    frauds = set(frame.loc[frame["is_fraud"] == 1, "transaction_id"])
    n = len(frame)

    with (
        ScorerThread(settings) as scorer,
        TopicWatcher(settings.kafka.servers, settings.kafka.scored_topic) as watcher,
    ):
        report = replay(settings, path, ReplayOptions(pace=Pace("max"), label_fraction=0.0))
        assert (report.transactions_sent, report.failed) == (n, 0)
        assert watcher.wait_for(n, 60, check=scorer.check) == n, scorer.describe()

    kafka = settings.kafka
    scored = [
        msgspec.json.decode(r.value, type=ScoredTransaction)
        for r in read_topic(kafka.servers, kafka.scored_topic, timeout_s=20)
    ]
    alerts = [
        msgspec.json.decode(r.value, type=Alert)
        for r in read_topic(kafka.servers, kafka.alerts_topic, timeout_s=20)
    ]
    assert sorted(s.transaction_id for s in scored) == sorted(frame["transaction_id"])
    expected_counts = card_tx_counts(frame)
    for s in scored:
        assert {k: s.features[k] for k in expected_counts[s.transaction_id]} == (
            expected_counts[s.transaction_id]
        )
    assert sorted(a.transaction_id for a in alerts) == sorted(frauds)

    client = build_redis_cluster(settings.redis)
    try:
        prefix = settings.features.key_prefix
        history = recent_card_transactions(client, prefix, "card-000", limit=10)
        card = frame[frame["card_id"] == "card-000"].sort_values("event_time", ascending=False)
        assert [h.transaction_id for h in history] == card["transaction_id"].tolist()
        assert [h.amount for h in history] == pytest.approx(card["amount"].tolist())
        masters = {
            client.get_node_from_key(f"{prefix}:c:{{card-{i:03d}}}:t").name for i in range(40)
        }
        assert len(masters) == 3
    finally:
        client.close()
