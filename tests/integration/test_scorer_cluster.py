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
import numpy as np
import pandas as pd
import pytest

from fraudstream.config import RedisSettings, Settings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.features.definitions import CARD_WINDOWS, epoch_ms
from fraudstream.features.recent import recent_card_transactions
from fraudstream.harness.kafka import read_topic
from fraudstream.harness.scorer import ScorerThread, TopicWatcher
from fraudstream.redis_client import build_redis_cluster
from fraudstream.replay.plan import Pace, ReplayOptions
from fraudstream.replay.service import replay
from fraudstream.schemas import Alert, ScoredTransaction


def _obvious_frauds(cards: int = 40, per_card: int = 4) -> pd.DataFrame:
    """Cards spending 20-80 every few hours; every fifth then spends 3,000 at once."""
    rng = np.random.default_rng(5)
    start = pd.Timestamp("2024-04-01", tz="UTC")
    rows = []
    for card in range(cards):
        first = start + pd.Timedelta(seconds=int(rng.integers(0, 6 * 3600)))
        for k in range(per_card + (card % 5 == 0)):
            fraud = k == per_card
            rows.append(
                {
                    "transaction_id": f"{'fraud' if fraud else 'ok'}-{card:03d}-{k}",
                    "event_time": first + pd.Timedelta(hours=7 * k),
                    "card_id": f"card-{card:03d}",
                    "merchant_id": f"merchant-{int(rng.integers(10)):02d}",
                    "amount": 3_000.0 if fraud else round(float(rng.uniform(20, 80)), 2),
                    "is_fraud": int(fraud),
                }
            )
    return pd.DataFrame(rows).sort_values("event_time", ignore_index=True)


@pytest.fixture
def settings(make_settings: Callable[..., Settings], cluster_settings: RedisSettings) -> Settings:
    """A scorer's settings in cluster mode; its keys are deleted from the cluster after."""
    return make_settings("cluster", REDIS_CLUSTER_NODES=cluster_settings.cluster_nodes)


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_a_scorer_on_the_cluster_alerts_exactly_the_obvious_frauds(
    settings: Settings, tmp_path: Path
) -> None:
    frame = _obvious_frauds()
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
    for _, group in frame.groupby("card_id"):
        ms = np.array(epoch_ms(group["event_time"]), dtype=np.int64)
        by_id = {s.transaction_id: s for s in scored}
        for tx_id, t in zip(group["transaction_id"], ms, strict=True):
            for suffix, width in CARD_WINDOWS:
                expected = int(((ms > t - width) & (ms <= t)).sum())
                assert by_id[tx_id].features[f"card_tx_count_{suffix}"] == expected
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
