"""The real services answer and do what the later stages rely on.

Kafka: keyed records keep their partition and order, and transactions commit (the
scorer's exactly-once loop depends on both). Redis: Lua and TTLs (the feature store
depends on both). MLflow: runs, metrics, artifacts and aliases over HTTP.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import mlflow
import redis
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from mlflow.tracking import MlflowClient

from fraudstream.config import KafkaSettings
from fraudstream.kafka.consumer import build_subscriber
from fraudstream.schemas import decode_transaction, encode
from fraudstream.testing.samples import sample_transaction


def _new_topic(bootstrap: str, partitions: int = 3) -> str:
    name = f"test-{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()
    return name


def _consume_all(bootstrap: str, topic: str, expected: int) -> list[tuple[int, bytes, bytes]]:
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    consumer = build_subscriber(settings, "test", [topic], consumer_timeout_ms=15_000)
    records: list[tuple[int, bytes, bytes]] = []
    try:
        for message in consumer:
            records.append((message.partition, message.key, message.value))
            if len(records) >= expected:
                break
    finally:
        consumer.close()
    return records


def test_kafka_keeps_each_card_on_one_partition_in_order(kafka_bootstrap: str) -> None:
    topic = _new_topic(kafka_bootstrap)
    sent = [sample_transaction(card_id=f"card-{i % 4}") for i in range(40)]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    for tx in sent:
        producer.send(topic, key=(tx.card_id or "").encode(), value=encode(tx))
    producer.flush(timeout=30)
    producer.close()

    received = _consume_all(kafka_bootstrap, topic, len(sent))
    assert len(received) == len(sent)
    partitions: dict[bytes, set[int]] = {}
    order: dict[bytes, list[str]] = {}
    for partition, key, value in received:
        partitions.setdefault(key, set()).add(partition)
        order.setdefault(key, []).append(decode_transaction(value).transaction_id)
    assert all(len(p) == 1 for p in partitions.values())
    for key, ids in order.items():
        assert ids == [tx.transaction_id for tx in sent if (tx.card_id or "").encode() == key]


def test_kafka_transactions_commit_and_abort(kafka_bootstrap: str) -> None:
    topic = _new_topic(kafka_bootstrap, partitions=1)
    producer = KafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=f"test-{uuid.uuid4().hex[:8]}"
    )
    producer.init_transactions()
    producer.begin_transaction()
    producer.send(topic, value=b"aborted")
    producer.flush()
    producer.abort_transaction()
    producer.begin_transaction()
    producer.send(topic, value=b"committed")
    producer.commit_transaction()
    producer.close()
    values = [value for _, _, value in _consume_all(kafka_bootstrap, topic, 1)]
    assert values == [b"committed"]


def test_redis_runs_lua_and_expires_keys(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    key = f"test:{uuid.uuid4().hex}"
    script = client.register_script(
        "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]); "
        "redis.call('PEXPIRE', KEYS[1], ARGV[3]); return redis.call('ZCARD', KEYS[1])"
    )
    assert script(keys=[key], args=[1, "a", 60_000]) == 1
    assert script(keys=[key], args=[2, "a", 60_000]) == 1  # same member: counted once
    assert 0 < client.pttl(key) <= 60_000
    client.delete(key)
    client.close()


def test_mlflow_logs_runs_artifacts_and_aliases(mlflow_uri: str, tmp_path: Path) -> None:
    mlflow.set_tracking_uri(mlflow_uri)
    experiment = mlflow.set_experiment(f"test-{uuid.uuid4().hex[:8]}")
    artifact = tmp_path / "note.txt"
    artifact.write_text("hello")
    with mlflow.start_run(experiment_id=experiment.experiment_id) as run:
        mlflow.log_param("model", "logistic")
        mlflow.log_metric("pr_auc", 0.42)
        mlflow.log_artifact(str(artifact))
    client = MlflowClient(tracking_uri=mlflow_uri)
    stored = client.get_run(run.info.run_id)
    assert stored.data.metrics["pr_auc"] == 0.42
    assert stored.data.params["model"] == "logistic"
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["note.txt"]

    name = f"test-model-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    version = client.create_model_version(
        name, source=f"runs:/{run.info.run_id}/note.txt", run_id=run.info.run_id
    )
    client.set_registered_model_alias(name, "challenger", version.version)
    assert client.get_model_version_by_alias(name, "challenger").version == version.version
