"""The scoring API against a real Redis (and, for the equivalence test, real Kafka).

It answers with the streaming scorer's features, model and decision; records or only
reads as asked; rejects bad requests with the field named, oversize batches with 413,
missing or wrong keys with 401; turns a Redis outage into 503 with Retry-After, and
never logs its key.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import msgspec
import pytest
import redis

from fraudstream.config import RedisSettings, Settings
from fraudstream.harness.api import ApiServer
from fraudstream.harness.scorer import (
    RawRecord,
    RedisServer,
    ScorerThread,
    TopicWatcher,
    create_topics,
    delete_keys,
    metric_values,
    produce,
    scorer_settings,
)
from fraudstream.schemas import ScoredTransaction, encode
from fraudstream.testing.samples import SAMPLE_TIME, sample_transaction

KEY = "test-key-" + uuid.uuid4().hex  # unique: if it shows up in logs, it came from here


def _settings(redis_url: str, **env: str) -> Settings:
    return Settings.load(
        REDIS_URL=redis_url,
        FEATURES_KEY_PREFIX=f"test-api-{uuid.uuid4().hex[:10]}",
        MLFLOW_REGISTERED_MODEL_NAME=f"test-api-{uuid.uuid4().hex[:10]}",
        API_KEY=KEY,
        API_MAX_BATCH="20",
        **env,
    )


@pytest.fixture
def settings(redis_url: str) -> Iterator[Settings]:
    created = _settings(redis_url)
    yield created
    delete_keys(redis_url, created.features.key_prefix)


@pytest.fixture
def api(settings: Settings) -> Iterator[httpx.Client]:
    with (
        ApiServer(settings) as server,
        httpx.Client(base_url=server.url, headers={"X-API-Key": KEY}, timeout=10) as client,
    ):
        yield client


def _tx(**overrides: Any) -> dict[str, Any]:
    tx = sample_transaction(**overrides)
    return msgspec.json.decode(encode(tx))


def test_scores_one_transaction(api: httpx.Client) -> None:
    response = api.post("/v1/score", json=_tx(transaction_id="t1", amount=25.0))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["recorded"] is True
    [result] = body["results"]
    assert result["transaction_id"] == "t1"
    assert 0.0 <= result["score"] < 0.05
    assert result["decision"] == "approve"
    assert result["threshold"] == 0.5
    assert result["model_version"] == "cold-start-1"
    assert (result["duplicate"], result["late"]) == (False, False)


def test_a_batch_is_scored_in_order_and_sees_itself(api: httpx.Client) -> None:
    batch = [
        _tx(transaction_id=f"b{i}", amount=20.0, event_time=SAMPLE_TIME + timedelta(minutes=i))
        for i in range(3)
    ] + [_tx(transaction_id="big", amount=5_000.0, event_time=SAMPLE_TIME + timedelta(hours=1))]
    response = api.post("/v1/score", json={"transactions": batch})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["transaction_id"] for r in results] == ["b0", "b1", "b2", "big"]
    assert [r["decision"] for r in results] == ["approve"] * 3 + ["decline"]
    assert results[-1]["reasons"][0] == "amount"
    assert "card_amount_over_mean_30d" in results[-1]["reasons"]


def test_read_only_records_nothing_and_recording_counts(api: httpx.Client) -> None:
    first = _tx(transaction_id="r1", amount=20.0)
    later = _tx(transaction_id="r2", amount=900.0, event_time=SAMPLE_TIME + timedelta(minutes=5))

    def score_later() -> float:
        response = api.post("/v1/score", params={"record": "false"}, json=later)
        assert response.status_code == 200, response.text
        assert response.json()["recorded"] is False
        return float(response.json()["results"][0]["score"])

    alone = score_later()
    assert api.post("/v1/score", params={"record": "false"}, json=first).status_code == 200
    assert score_later() == alone  # reading "first" recorded nothing
    assert api.post("/v1/score", json=first).status_code == 200
    assert score_later() > alone  # "later" is now twice the card's mean, not all of it
    again = api.post("/v1/score", json=first).json()["results"][0]
    assert again["duplicate"] is True  # recording is idempotent per transaction_id


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        (_tx(amount=-1.0), "amount", "greater than or equal to 0"),
        ({**_tx(), "event_time": "2024-04-01T12:00:00"}, "event_time", "timezone"),
        ({**_tx(), "transaction_id": ""}, "transaction_id", "at least 1 character"),
        ({**_tx(), "amount": "lots"}, "amount", "valid number"),
        ({**_tx(), "colour": "red"}, "colour", "Extra inputs are not permitted"),
        ({**_tx(), "features": {"amount": 1.0}}, "features", "may not be reused"),
        ({**_tx(), "schema_version": 2}, "schema_version", "Input should be 1"),
        ({k: v for k, v in _tx().items() if k != "event_time"}, "event_time", "Field required"),
        ({"transactions": []}, "transactions", "at least 1 item"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_bad_request_gets_422_naming_the_field(
    api: httpx.Client, body: dict[str, Any], field: str, problem: str
) -> None:
    response = api.post("/v1/score", json=body)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(e["loc"][-1] == field and problem in e["msg"] for e in errors), errors


@pytest.mark.parametrize("raw", [b"{not json", b"NaN", b'{"amount": Infinity}', b"[]"])
def test_bodies_that_are_not_a_transaction_get_422(api: httpx.Client, raw: bytes) -> None:
    response = api.post("/v1/score", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text


def test_non_finite_numbers_are_rejected(api: httpx.Client) -> None:
    raw = encode(sample_transaction()).replace(b'"amount":42.5', b'"amount":1e999')
    response = api.post("/v1/score", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == "amount"


def test_an_oversize_batch_gets_413(api: httpx.Client) -> None:
    batch = [_tx() for _ in range(21)]  # API_MAX_BATCH is 20
    response = api.post("/v1/score", json={"transactions": batch})
    assert response.status_code == 413, response.text
    assert "at most 20" in response.json()["detail"]
    assert api.post("/v1/score", json={"transactions": batch[:20]}).status_code == 200


def test_the_key_guards_everything_but_health_and_metrics(
    settings: Settings, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    with ApiServer(settings) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": KEY[:-1]}):
            assert client.post("/v1/score", json=_tx(), headers=headers).status_code == 401
            assert client.get("/v1/model", headers=headers).status_code == 401
        assert client.post("/v1/score", json=_tx(), headers={"X-API-Key": KEY}).status_code == 200
        model = client.get("/v1/model", headers={"X-API-Key": KEY})
        assert model.json() == {
            "champion": {"version": "cold-start-1", "metrics": {}},
            "challenger": None,
            "snapshot_load_failures": 0,
        }
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
            assert client.get(path).status_code == 200, path
    out, err = capfd.readouterr()
    assert KEY not in out + err + caplog.text
    assert KEY[:-1] not in out + err + caplog.text


def test_the_api_refuses_to_start_without_a_key(redis_url: str) -> None:
    from fraudstream.api.app import create_app
    from fraudstream.errors import ConfigError

    with pytest.raises(ConfigError, match="API_KEY"):
        create_app(Settings.load(REDIS_URL=redis_url, API_KEY=""))


def test_redis_down_gives_503_with_retry_after_then_recovers() -> None:
    with RedisServer() as redis_server:
        settings = _settings(redis_server.url, REDIS_SOCKET_TIMEOUT_S="0.5")
        with (
            ApiServer(settings) as server,
            httpx.Client(base_url=server.url, headers={"X-API-Key": KEY}, timeout=10) as client,
        ):
            assert client.post("/v1/score", json=_tx()).status_code == 200
            assert client.get("/readyz").json()["ready"] is True
            redis_server.kill()
            for record in ("true", "false"):
                response = client.post("/v1/score", params={"record": record}, json=_tx())
                assert response.status_code == 503, response.text
                assert response.headers["Retry-After"] == "1"
                assert "Redis" in response.json()["detail"]
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["redis"] != "ok"
            assert client.get("/healthz").status_code == 200
            redis_server.start()
            assert client.post("/v1/score", json=_tx()).status_code == 200
            assert client.get("/readyz").status_code == 200
            metrics = client.get("/metrics").text
    errors = metric_values(metrics, "api_errors_total")
    assert errors[(("status", "503"),)] == 3.0  # two scores and a readiness check
    requests = metric_values(metrics, "api_requests_total")
    assert requests[(("endpoint", "/readyz"), ("status", "503"))] == 1.0
    assert requests[(("endpoint", "/v1/score"), ("status", "200"))] == 2.0
    decisions = metric_values(metrics, "api_decisions_total")
    assert decisions[(("decision", "approve"),)] == 2.0
    assert re.search(r'api_request_seconds_count\{endpoint="/v1/score"\} 4\.0', metrics)


def test_the_api_and_the_streaming_scorer_agree(
    kafka_bootstrap: str, redis_url: str, settings: Settings
) -> None:
    """Same transaction, same history in Redis: same features, score and decision."""
    stream = scorer_settings(
        kafka_bootstrap, redis_url, "api-agree", FEATURES_KEY_PREFIX=settings.features.key_prefix
    )
    create_topics(stream)
    cards = [f"card-{i}" for i in range(6)]
    history = [
        sample_transaction(
            card_id=card,
            merchant_id=f"m-{i % 3}",
            amount=10.0 + 7 * i + j,
            event_time=SAMPLE_TIME + timedelta(minutes=10 * j + i),
        )
        for j in range(5)
        for i, card in enumerate(cards)
    ]
    probes = [
        sample_transaction(
            card_id=card,
            merchant_id=f"m-{i % 3}",
            amount=[15.0, 80.0, 400.0, 2_500.0, 30.0, 9_000.0][i],
            event_time=SAMPLE_TIME + timedelta(hours=2, minutes=i),
        )
        for i, card in enumerate(cards)
    ]
    with (
        ApiServer(settings) as server,
        httpx.Client(base_url=server.url, headers={"X-API-Key": KEY}, timeout=10) as client,
    ):
        kafka = stream.kafka
        with ScorerThread(stream) as scorer, TopicWatcher(kafka.servers, kafka.scored_topic) as w:
            produce(kafka.servers, kafka.transactions_topic, [_raw(tx) for tx in history])
            assert w.wait_for(len(history), 30, check=scorer.check) == len(history)
            body = {"transactions": [msgspec.json.decode(encode(tx)) for tx in probes]}
            read = client.post("/v1/score", params={"record": "false"}, json=body)
            produce(kafka.servers, kafka.transactions_topic, [_raw(tx) for tx in probes])
            total = len(history) + len(probes)
            assert w.wait_for(total, 30, check=scorer.check) == total
            served = {
                s.transaction_id: s
                for s in (msgspec.json.decode(r.value, type=ScoredTransaction) for r in w.records)
            }
        recorded_again = client.post("/v1/score", json=body)  # duplicates now: same answer
    assert read.status_code == recorded_again.status_code == 200
    decisions = set()
    for answer in (read.json()["results"], recorded_again.json()["results"]):
        for probe, result in zip(probes, answer, strict=True):
            scored = served[probe.transaction_id]
            assert result["score"] == pytest.approx(scored.score, rel=1e-12, abs=1e-15)
            assert (result["decision"] == "decline") == scored.alert
            assert result["model_version"] == scored.model_version
            decisions.add(result["decision"])
    assert decisions == {"approve", "decline"}
    assert [r["duplicate"] for r in recorded_again.json()["results"]] == [True] * len(probes)


def _raw(tx: Any) -> RawRecord:
    return RawRecord(value=encode(tx), key=tx.card_id.encode())


def test_on_a_redis_cluster_a_batch_sees_itself_and_read_only_records_nothing(
    redis_url: str, cluster_settings: RedisSettings
) -> None:
    """With REDIS_CLUSTER_NODES set the API opens the cluster feature store."""
    settings = _settings(redis_url, REDIS_CLUSTER_NODES=cluster_settings.cluster_nodes)
    batch = [
        _tx(transaction_id=f"c{i}", amount=20.0, event_time=SAMPLE_TIME + timedelta(minutes=i))
        for i in range(3)
    ] + [_tx(transaction_id="big", amount=5_000.0, event_time=SAMPLE_TIME + timedelta(hours=1))]
    try:
        with (
            ApiServer(settings) as server,
            httpx.Client(base_url=server.url, headers={"X-API-Key": KEY}, timeout=10) as client,
        ):
            probe = client.post("/v1/score", params={"record": "false"}, json=batch[-1])
            assert probe.status_code == 200, probe.text
            assert probe.json()["results"][0]["decision"] == "decline"
            response = client.post("/v1/score", json={"transactions": batch})
            assert response.status_code == 200, response.text
            results = response.json()["results"]
            assert [r["decision"] for r in results] == ["approve"] * 3 + ["decline"]
            assert "card_amount_over_mean_30d" in results[-1]["reasons"]
            assert not any(r["duplicate"] for r in results)  # the probe recorded nothing
            again = client.post("/v1/score", json=batch[0]).json()["results"][0]
            assert again["duplicate"] is True
        prefix = settings.features.key_prefix
        with redis.Redis.from_url(redis_url) as single:  # nothing went to the one Redis
            assert list(single.scan_iter(match=f"{prefix}:*")) == []
        assert delete_keys(settings.redis, prefix) > 0  # it all went to the cluster
    finally:
        delete_keys(settings.redis, settings.features.key_prefix)
