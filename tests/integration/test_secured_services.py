"""The pipeline over a secured broker and Redis: Kafka's SASL_SSL listener (SCRAM-SHA-512)
and Redis over TLS with a password, both as ``infra/local/services.sh`` starts them.

Replay, score, alerts, learn and report run end to end with every client secured, the
scoring API serves features from Redis over TLS, and a wrong password or an untrusted
CA certificate is a configuration error naming the setting to fix.

The secured endpoints come from variables that are no fraudstream setting (the rest of
the suite stays on PLAINTEXT): ``KAFKA_SASL_BOOTSTRAP_SERVERS``,
``KAFKA_SASL_TEST_USER``, ``KAFKA_SASL_TEST_PASSWORD``, ``REDIS_TLS_URL`` (a
``rediss://`` URL with the password) and ``LOCAL_TLS_CAFILE`` (the CA that signed both).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import orjson
import pytest

from fraudstream.config import RedisSettings, Settings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.errors import ConfigError
from fraudstream.harness.api import ApiServer
from fraudstream.harness.kafka import read_topic
from fraudstream.harness.scorer import (
    RawRecord,
    ScorerThread,
    TopicWatcher,
    committed_offsets,
    create_topics,
    delete_keys,
    learner_env,
    produce,
    scorer_env,
    scorer_settings,
    wait_until,
)
from fraudstream.kafka.consumer import build_consumer
from fraudstream.kafka.producer import build_producer
from fraudstream.learning.learner import StateStore
from fraudstream.learning.service import run_learner
from fraudstream.redis_client import build_redis, connect_redis
from fraudstream.replay.plan import Pace, ReplayOptions
from fraudstream.replay.service import replay
from fraudstream.schemas import encode
from fraudstream.testing.samples import SAMPLE_TIME, sample_transaction

VARIABLES = (
    "KAFKA_SASL_BOOTSTRAP_SERVERS",
    "KAFKA_SASL_TEST_USER",
    "KAFKA_SASL_TEST_PASSWORD",
    "REDIS_TLS_URL",
    "LOCAL_TLS_CAFILE",
)
HOW_TO_START = (
    "start the local services with `make services-up` and export the variables it prints "
    "(or source <state>/env.sh), or run the suite with `make test`"
)
API_KEY = "secured-api-" + uuid.uuid4().hex
#: A bootstrap timeout for the clients expected to fail: kafka-python retries a refused
#: login until then, so an error named well before it was found by the library's login.
BOOTSTRAP_TIMEOUT_MS = 120_000
NAMED_WITHIN_S = 30


@dataclass(frozen=True)
class Secured:
    """The secured endpoints and what a client needs to use them."""

    kafka: str
    user: str
    password: str
    redis_url: str
    cafile: Path

    def env(self, **changes: str) -> dict[str, str]:
        """The settings (by variable name) of a client of both, ``changes`` applied."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": self.user,
            "KAFKA_SASL_PASSWORD": self.password,
            "KAFKA_SSL_CAFILE": str(self.cafile),
            "REDIS_URL": self.redis_url,
            "REDIS_SSL_CA_CERTS": str(self.cafile),
            **changes,
        }


def _reachable(variable: str, host: str, port: int) -> None:
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        pytest.fail(f"{variable}: {host}:{port} does not answer: {exc}; {HOW_TO_START}", False)


@pytest.fixture(scope="module")
def secured() -> Secured:
    """The endpoints from the environment; a test fails (never skips) without them."""
    missing = [name for name in VARIABLES if not os.environ.get(name)]
    if missing:
        pytest.fail(
            f"the secured services are needed: {', '.join(missing)} unset; {HOW_TO_START}",
            pytrace=False,
        )
    env = os.environ
    found = Secured(
        kafka=env["KAFKA_SASL_BOOTSTRAP_SERVERS"],
        user=env["KAFKA_SASL_TEST_USER"],
        password=env["KAFKA_SASL_TEST_PASSWORD"],
        redis_url=env["REDIS_TLS_URL"],
        cafile=Path(env["LOCAL_TLS_CAFILE"]),
    )
    if not found.cafile.is_file():
        pytest.fail(f"LOCAL_TLS_CAFILE={found.cafile} is not a file; {HOW_TO_START}", False)
    host, _, port = found.kafka.split(",")[0].rpartition(":")
    _reachable("KAFKA_SASL_BOOTSTRAP_SERVERS", host, int(port))
    url = urlsplit(found.redis_url)
    if url.scheme != "rediss":
        pytest.fail(f"REDIS_TLS_URL must be a rediss:// URL, got {url.scheme}://", False)
    _reachable("REDIS_TLS_URL", url.hostname or "127.0.0.1", url.port or 6379)
    return found


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA certificate that signed neither service."""
    folder = tmp_path_factory.mktemp("other-ca")
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=not the services' CA", "-keyout", str(folder / "ca.key")),
            *("-out", str(folder / "ca.pem")),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return folder / "ca.pem"


@pytest.fixture
def settings(secured: Secured, mlflow_uri: str) -> Iterator[Settings]:
    """A scorer and learner of their own (topics, keys, group) on the secured services."""
    made = scorer_settings(
        secured.kafka,
        secured.redis_url,
        "secured",
        **secured.env(MLFLOW_TRACKING_URI=mlflow_uri),
        **learner_env(100, LEARNER_MLFLOW_EVERY="0"),
    )
    create_topics(made)
    yield made
    delete_keys(made.redis, made.features.key_prefix)


def _cli(secured: Secured, settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("fraudstream")
    assert exe is not None
    env = {**scorer_env(settings), **secured.env()}
    return subprocess.run(
        [exe, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


@pytest.mark.timeout(300)
def test_replay_score_alerts_learn_and_report_over_sasl_ssl_and_redis_tls(
    secured: Secured, settings: Settings, tmp_path: Path
) -> None:
    frame = simulate(SimulatorConfig(customers=100, terminals=200, days=3, seed=5))
    data = tmp_path / "sim.parquet"
    write_parquet_atomic(frame, data)
    n = len(frame)
    sent = replay(settings, data, ReplayOptions(pace=Pace("max"), label_delay=timedelta(hours=6)))
    assert (sent.failed, sent.transactions_sent, sent.labels_sent) == (0, n, n)

    kafka = settings.kafka
    with (
        ScorerThread(settings) as scorer,
        TopicWatcher(kafka, kafka.scored_topic) as watch,
    ):
        assert watch.wait_for(n, 120, check=scorer.check) == n, scorer.describe()
        # the benches' progress probe reads the group's offsets over SASL_SSL too
        group = settings.scorer.group_id
        assert wait_until(
            lambda: committed_offsets(kafka, group, kafka.transactions_topic) == n, 30
        ), committed_offsets(kafka, group, kafka.transactions_topic)
    alerted = sorted(
        record["transaction_id"]
        for record in (orjson.loads(r.value) for r in watch.records)
        if record["alert"]
    )

    tail = _cli(secured, settings, "alerts", "tail")
    assert tail.returncode == 0, tail.stderr[-2000:]
    alerts = sorted(orjson.loads(line)["transaction_id"] for line in tail.stdout.splitlines())
    print(f"replayed {n}, scored {len(watch.records)}, alerts {len(alerts)}")
    assert alerts == alerted

    stop = threading.Event()
    learned: list[Any] = []
    thread = threading.Thread(target=lambda: learned.append(run_learner(settings, stop)))
    thread.start()
    try:
        with build_redis(settings.redis) as client:
            store = StateStore(client, settings.features.key_prefix)
            assert wait_until(
                lambda: (s := store.load()) is not None and s.labels_learned == n, 120
            ), f"labels learned: {(store.load() or 'no state')!r:.200}"
    finally:
        stop.set()
        thread.join(timeout=30)
    assert learned
    assert learned[0].labels_learned == n

    report = _cli(secured, settings, "report", "--out", str(tmp_path / "r.html"), "--title", "tls")
    assert report.returncode == 0, report.stderr[-2000:]
    page = (tmp_path / "r.html").read_text()
    assert f'<td>transactions scored</td><td class="num">{n:,}</td>' in page


def test_the_test_harness_writes_raw_records_over_sasl_ssl(settings: Settings) -> None:
    kafka = settings.kafka
    records = [RawRecord(b"not json", key=b"k"), RawRecord(None, key=b"tombstone")]

    landed = produce(kafka, kafka.dlq_topic, records)

    assert len(landed) == 2
    assert {(r.key, r.value) for r in read_topic(kafka, kafka.dlq_topic)} == {
        (b"k", b"not json"),
        (b"tombstone", None),
    }


def test_the_scoring_api_serves_features_from_redis_over_tls(secured: Secured) -> None:
    prefix = f"test-secured-api-{uuid.uuid4().hex[:10]}"
    settings = Settings.load(
        **secured.env(FEATURES_KEY_PREFIX=prefix, API_KEY=API_KEY),
        MLFLOW_REGISTERED_MODEL_NAME=prefix,
    )
    tx = msgspec.json.decode(encode(sample_transaction(transaction_id="tls-1", amount=20.0)))
    later = sample_transaction(
        transaction_id="tls-2", amount=900.0, event_time=SAMPLE_TIME + timedelta(minutes=5)
    )
    try:
        with (
            ApiServer(settings) as server,
            httpx.Client(base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=10) as api,
        ):

            def score_later() -> float:
                body = msgspec.json.decode(encode(later))
                response = api.post("/v1/score", params={"record": "false"}, json=body)
                assert response.status_code == 200, response.text
                return float(response.json()["results"][0]["score"])

            alone = score_later()
            first = api.post("/v1/score", json=tx)
            assert first.status_code == 200, first.text
            assert first.json()["recorded"] is True
            again = api.post("/v1/score", json=tx).json()["results"][0]
            assert again["duplicate"] is True  # the store remembered it, over TLS
            assert score_later() > alone  # and its history now shapes the card's features
        with build_redis(settings.redis) as client:
            keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        print(f"keys under {prefix}: {len(keys)}")
        assert keys
    finally:
        delete_keys(settings.redis, prefix)


def test_a_wrong_kafka_password_names_the_setting(secured: Secured) -> None:
    wrong = Settings.load(**secured.env(KAFKA_SASL_PASSWORD="not-the-password")).kafka
    started = time.monotonic()
    with pytest.raises(ConfigError, match="check KAFKA_SASL_PASSWORD") as raised:
        build_consumer(wrong, "probe", bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS).close()
    elapsed = time.monotonic() - started
    print(f"wrong Kafka password, named in {elapsed:.2f} s: {raised.value}")
    assert elapsed < NAMED_WITHIN_S
    assert f"KAFKA_SASL_USERNAME={secured.user}" in str(raised.value)
    assert "not-the-password" not in str(raised.value)


def test_an_untrusted_kafka_certificate_names_the_setting(secured: Secured, other_ca: Path) -> None:
    wrong = Settings.load(**secured.env(KAFKA_SSL_CAFILE=str(other_ca))).kafka
    started = time.monotonic()
    with pytest.raises(ConfigError, match="certificate is not trusted") as raised:
        build_producer(wrong, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS).close()
    elapsed = time.monotonic() - started
    print(f"untrusted broker, named in {elapsed:.2f} s: {raised.value}")
    assert elapsed < NAMED_WITHIN_S
    assert f"check KAFKA_SSL_CAFILE={other_ca}" in str(raised.value)


def test_a_wrong_redis_password_names_the_setting(secured: Secured) -> None:
    ca = secured.cafile
    with pytest.raises(ConfigError, match="check REDIS_PASSWORD") as raised:
        connect_redis(
            RedisSettings(url=secured.redis_url, password="not-the-password", ssl_ca_certs=ca)
        )
    assert "not-the-password" not in str(raised.value)
    url = urlsplit(secured.redis_url)
    wrong = url._replace(netloc=f":not-the-password@{url.hostname}:{url.port}").geturl()
    with pytest.raises(ConfigError, match="check the password in REDIS_URL") as raised:
        connect_redis(RedisSettings(url=wrong, ssl_ca_certs=ca))
    print(f"wrong Redis password: {raised.value}")
    assert "not-the-password" not in str(raised.value)


def test_an_untrusted_redis_certificate_names_the_setting(secured: Secured, other_ca: Path) -> None:
    with pytest.raises(ConfigError, match="certificate is not trusted") as raised:
        connect_redis(RedisSettings(url=secured.redis_url, ssl_ca_certs=other_ca))
    print(f"untrusted Redis: {raised.value}")
    assert f"check REDIS_SSL_CA_CERTS={other_ca}" in str(raised.value)
    password = urlsplit(secured.redis_url).password
    assert password
    assert password not in str(raised.value)
