"""A real Prometheus scraping a real scorer and learner fed by a short replay.

Every recording rule of infra/prometheus/rules/recording.yml and every panel query of
infra/grafana/dashboards evaluates without error and returns data.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudstream.config import Settings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.evaluation.drift import build_reference
from fraudstream.harness.prometheus import (
    PrometheusServer,
    QueryError,
    dashboard_expressions,
    dashboards,
    local_config,
    recording_rules,
)
from fraudstream.harness.scorer import (
    RawRecord,
    ScorerProcess,
    free_port,
    learner_env,
    produce,
    wait_until,
)
from fraudstream.monitoring.drift import save_reference
from fraudstream.monitoring.panels import render_dashboard
from fraudstream.redis_client import build_redis
from fraudstream.replay.plan import Pace, ReplayOptions
from fraudstream.replay.service import replay

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    env = learner_env(
        300,
        LEARNER_HTTP_PORT=str(free_port()),
        LEARNER_MLFLOW_EVERY="0",
        FEATURES_LABEL_DELAY="1d",
    )
    return make_settings("prom", **env)


def _store_reference(settings: Settings) -> None:
    rng = np.random.default_rng(3)
    training = pd.DataFrame(
        {
            "amount": rng.lognormal(3.5, 1.0, 5_000),
            "card_tx_count_1d": rng.poisson(2.0, 5_000).astype(float),
            "score": rng.beta(1, 20, 5_000),
        }
    )
    with build_redis(settings.redis) as client:
        save_reference(client, settings.features.key_prefix, build_reference(training))


def _returns_data(prometheus: PrometheusServer, expr: str) -> bool:
    return bool(prometheus.query(expr))


def _scraped(prometheus: PrometheusServer, counter: str) -> float:
    """The sum of a counter over its series, as Prometheus last scraped it."""
    return sum(float(sample["value"][1]) for sample in prometheus.query(counter))


@pytest.mark.timeout(480)
def test_every_recording_rule_and_panel_query_returns_data(
    settings: Settings,
    tmp_path: Path,
    learner_processes: Callable[[Settings], subprocess.Popen[bytes]],
) -> None:
    rules = recording_rules()
    panels = dashboard_expressions()
    _store_reference(settings)
    frame = simulate(SimulatorConfig(customers=300, terminals=600, days=4, seed=5))
    data = tmp_path / "sim.parquet"
    write_parquet_atomic(frame, data)

    began = time.time()
    scorer = ScorerProcess(settings, tmp_path / "scorer.log")
    learner_processes(settings)
    config = local_config(
        {
            "scorer": [f"127.0.0.1:{settings.scorer.http_port}"],
            "learner": [f"127.0.0.1:{settings.learner.http_port}"],
        }
    )
    prometheus = PrometheusServer(config, tmp_path / "prometheus", free_port())
    try:
        prometheus.wait_ready()
        # the processes import a lot before they listen: slow on a loaded machine
        assert wait_until(
            lambda: set(prometheus.targets_up().values()) == {"up"}, 180, check=scorer.check
        ), f"{prometheus.targets_up()}\n{scorer.log_tail()}"
        report = replay(
            settings, data, ReplayOptions(pace=Pace("rate", 100.0), label_delay=timedelta(days=1))
        )
        assert report.failed == 0
        produce(
            settings.kafka.servers,
            settings.kafka.transactions_topic,
            [RawRecord(b"not json", key=b"bad") for _ in range(5)],
        )
        pending = dict.fromkeys([*rules, *panels])
        errors: dict[str, str] = {}

        def all_answer() -> bool:
            for expr in list(pending):
                try:
                    if _returns_data(prometheus, expr):
                        del pending[expr]
                except QueryError as exc:
                    errors[expr] = str(exc)
                    return True
            return not pending

        assert wait_until(all_answer, 120, interval_s=1.0, check=scorer.check), (
            f"no data for {sorted(pending)}\n{prometheus.log()}"
        )
        assert errors == {}
        lag = prometheus.query('fraudstream:consumer_lag:sum{service="scorer"}')
        psi = prometheus.query("fraudstream_drift_psi")
        print(
            f"{len(rules)} recording rules and {len(panels)} panel queries answered; "
            f"lag {lag[0]['value'][1]}, PSI of {len(psi)} columns"
        )
        assert {s["metric"]["feature"] for s in psi} == {"amount", "card_tx_count_1d", "score"}
        # every panel drawn from this run's data (docs/img when FRAUDSTREAM_DOCS_FIGURES=1),
        # once Prometheus has scraped the scorer's last counts
        assert wait_until(
            lambda: (
                _scraped(prometheus, "scorer_transactions_scored_total") >= report.transactions_sent
                and _scraped(prometheus, "scorer_dead_letters_total") >= 5
            ),
            60,
            interval_s=1.0,
            check=scorer.check,
        ), f"{prometheus.query('scorer_transactions_scored_total')}\n{scorer.log_tail()}"
        folder = DOCS_IMG if os.environ.get("FRAUDSTREAM_DOCS_FIGURES") else tmp_path / "img"
        written = [
            path
            for board in dashboards().values()
            for path in render_dashboard(board, prometheus.query_range, began, time.time(), folder)
        ]
        assert len(written) == sum(len(b["panels"]) for b in dashboards().values())
        assert all(path.stat().st_size > 5_000 for path in written)
    finally:
        prometheus.close()
        scorer.close()
