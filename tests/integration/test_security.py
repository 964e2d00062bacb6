"""Redis AUTH against a real ``redis-server --requirepass``, and secrets kept out of logs."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from fraudstream.config import RedisSettings
from fraudstream.errors import ConfigError
from fraudstream.features.redis_store import RedisFeatureStore
from fraudstream.features.store import FeatureRequest
from fraudstream.harness.scorer import (
    RawRecord,
    RedisServer,
    ScorerProcess,
    TopicWatcher,
    create_topics,
    produce,
    scorer_env,
    scorer_settings,
)
from fraudstream.redis_client import connect_redis
from fraudstream.schemas import encode
from fraudstream.testing.samples import SAMPLE_TIME, sample_transaction

PASSWORD = "redis-pa55-7f3c91"
OTHER_SECRETS = {
    "API_KEY": "api-key-5b20aa",
}


@pytest.fixture(scope="module")
def protected() -> Iterator[RedisServer]:
    with RedisServer(password=PASSWORD) as server:
        yield server


def test_a_missing_password_is_a_clear_config_error(protected: RedisServer) -> None:
    with pytest.raises(ConfigError, match="REDIS_PASSWORD is unset") as raised:
        connect_redis(RedisSettings(url=protected.url))
    print(f"no password: {raised.value}")


def test_a_wrong_password_is_a_clear_config_error(protected: RedisServer) -> None:
    with pytest.raises(ConfigError, match="check REDIS_PASSWORD") as raised:
        connect_redis(RedisSettings(url=protected.url, password="not-the-password"))
    print(f"wrong password: {raised.value}")
    assert "not-the-password" not in str(raised.value)


def test_the_right_password_serves_features(protected: RedisServer) -> None:
    client = connect_redis(RedisSettings(url=protected.url, password=PASSWORD))
    store = RedisFeatureStore(client, prefix="auth-test")
    txs = [
        sample_transaction(card_id="auth-card", event_time=SAMPLE_TIME + timedelta(minutes=i))
        for i in range(3)
    ]
    batch = store.process([FeatureRequest.of(tx) for tx in txs])
    counts = batch.values[:, list(batch.names).index("card_tx_count_1d")]
    assert counts.tolist() == [1, 2, 3]
    store.close()


def _secrets_in(text: str) -> list[str]:
    return [s for s in (PASSWORD, *OTHER_SECRETS.values()) if s in text]


@pytest.mark.timeout(120)
def test_the_scorer_never_logs_its_secrets(
    protected: RedisServer, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """JSON logs at DEBUG, a wrong password then the right one: no secret in the output."""
    exe = shutil.which("fraudstream")
    assert exe
    settings = scorer_settings(
        kafka_bootstrap,
        protected.url,
        "secrets",
        REDIS_PASSWORD=PASSWORD,
        FRAUDSTREAM_LOG_JSON="true",
    )
    create_topics(settings)
    env_extra = {"FRAUDSTREAM_LOG_JSON": "true", "FRAUDSTREAM_LOG_LEVEL": "DEBUG"}

    # a wrong password: exits with the config error's code, the message names the setting
    wrong = scorer_settings(
        kafka_bootstrap, protected.url, "secrets-wrong", REDIS_PASSWORD=OTHER_SECRETS["API_KEY"]
    )
    result = subprocess.run(
        [exe, "score"],
        env={**scorer_env(wrong), **env_extra, "API_KEY": OTHER_SECRETS["API_KEY"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    print(f"wrong password: exit {result.returncode}; {output.strip().splitlines()[-1]}")
    assert result.returncode == ConfigError.exit_code
    assert "check REDIS_PASSWORD" in output
    assert _secrets_in(output) == []

    # the right password: scores, then SIGTERM; the whole log is clean
    log_path = tmp_path / "scorer.log"
    process = ScorerProcess(settings, log_path, extra_env={**env_extra, **OTHER_SECRETS})
    try:
        txs = [sample_transaction(card_id=f"secret-card-{i % 3}") for i in range(20)]
        kafka = settings.kafka
        with TopicWatcher(kafka.servers, kafka.scored_topic) as watcher:
            produce(
                kafka.servers,
                kafka.transactions_topic,
                [RawRecord(encode(tx), (tx.card_id or "").encode()) for tx in txs],
            )
            assert watcher.wait_for(len(txs), 60, check=process.check) == len(txs)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, process.log_tail()
    finally:
        process.close()
    text = log_path.read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    print(f"scorer log: {len(lines)} lines, secrets found: {_secrets_in(text)}")
    assert any('"scorer started"' in line for line in lines)
    assert _secrets_in(text) == []
