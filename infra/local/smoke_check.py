"""End-to-end check of the local services, run with the project's venv.

Usage: .venv/bin/python infra/local/smoke_check.py   (or: services.sh check)

Reads KAFKA_BOOTSTRAP_SERVERS, REDIS_URL and MLFLOW_TRACKING_URI (defaults:
the ports services.sh uses) and exercises what the project relies on:

* Kafka: create a topic, produce and consume a plain message, commit one
  transaction and abort another, and read back with read_committed (the
  committed record is seen, the aborted one is not); delete the topic.
* Redis: SET / GET / DEL.
* MLflow: create an experiment, log a param, a metric and an artifact over
  HTTP (artifact URI mlflow-artifacts:/...), then read them back.

Prints one line per check and exits non-zero on the first failure.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
MLFLOW_URI = os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
RUN_ID = uuid.uuid4().hex[:8]


def ok(what: str, started: float) -> None:
    print(f"ok   {what} ({time.monotonic() - started:.1f}s)", flush=True)


def consume_all(topic: str, isolation_level: str, expected: int) -> list[bytes]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=KAFKA,
        group_id=f"smoke-{isolation_level}-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        isolation_level=isolation_level,
        consumer_timeout_ms=3000,
    )
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and len(values) < expected:
            for batch in consumer.poll(timeout_ms=1000).values():
                values.extend(record.value for record in batch)
        # Give late (e.g. aborted) records a chance to show up wrongly.
        for batch in consumer.poll(timeout_ms=1000).values():
            values.extend(record.value for record in batch)
        consumer.commit()
    finally:
        consumer.close()
    return values


def check_kafka() -> None:
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    started = time.monotonic()
    topic = f"smoke-{RUN_ID}"
    admin = KafkaAdminClient(bootstrap_servers=KAFKA, client_id="smoke-admin")
    try:
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        assert topic in admin.list_topics(), "created topic not listed"
        ok(f"kafka: created topic {topic}", started)

        started = time.monotonic()
        producer = KafkaProducer(bootstrap_servers=KAFKA, acks="all")
        producer.send(topic, key=b"k", value=b"plain").get(timeout=30)
        producer.close()
        values = consume_all(topic, "read_uncommitted", 1)
        assert values == [b"plain"], values
        ok("kafka: produced and consumed a message", started)

        started = time.monotonic()
        tx = KafkaProducer(bootstrap_servers=KAFKA, transactional_id=f"smoke-tx-{RUN_ID}")
        tx.init_transactions()
        tx.begin_transaction()
        tx.send(topic, key=b"k", value=b"committed")
        tx.commit_transaction()
        tx.begin_transaction()
        tx.send(topic, key=b"k", value=b"aborted")
        tx.flush()
        tx.abort_transaction()
        tx.close()
        values = consume_all(topic, "read_committed", 2)
        assert sorted(values) == [b"committed", b"plain"], values
        values = consume_all(topic, "read_uncommitted", 3)
        assert sorted(values) == [b"aborted", b"committed", b"plain"], values
        ok("kafka: transactional commit visible, abort hidden (read_committed)", started)
    finally:
        try:
            admin.delete_topics([topic])
        finally:
            admin.close()


def check_redis() -> None:
    import redis

    started = time.monotonic()
    client = redis.Redis.from_url(REDIS_URL)
    key = f"fraudstream:smoke:{RUN_ID}"
    assert client.ping()
    client.set(key, "42", ex=60)
    assert client.get(key) == b"42"
    client.delete(key)
    client.close()
    ok("redis: PING, SET/GET/DEL", started)


def check_mlflow() -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    started = time.monotonic()
    mlflow.set_tracking_uri(MLFLOW_URI)
    experiment_id = mlflow.create_experiment(f"smoke-{RUN_ID}")
    with tempfile.TemporaryDirectory() as tmp:
        artifact = Path(tmp) / "hello.txt"
        artifact.write_text(f"hello from {RUN_ID}\n")
        with mlflow.start_run(experiment_id=experiment_id) as run:
            mlflow.log_param("source", "smoke_check")
            mlflow.log_metric("auc", 0.99)
            mlflow.log_artifact(str(artifact))
            artifact_uri = mlflow.get_artifact_uri()
    assert artifact_uri.startswith("mlflow-artifacts:/"), (
        f"artifacts are not proxied through the server: {artifact_uri}"
    )

    client = MlflowClient(MLFLOW_URI)
    data = client.get_run(run.info.run_id).data
    assert data.metrics["auc"] == 0.99, data.metrics
    assert data.params["source"] == "smoke_check", data.params
    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(run.info.run_id, "hello.txt", tmp)
        assert Path(local).read_text() == f"hello from {RUN_ID}\n"
    client.delete_experiment(experiment_id)
    ok(f"mlflow: experiment, metric, artifact over HTTP ({artifact_uri})", started)


def main() -> int:
    for check in (check_redis, check_mlflow, check_kafka):
        try:
            check()
        except Exception as exc:  # report which check failed, then stop
            print(f"FAIL {check.__name__}: {type(exc).__name__}: {exc}", flush=True)
            return 1
    print("all local services OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
