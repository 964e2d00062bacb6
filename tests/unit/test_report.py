"""The run report from served records and labels given as frames (no services)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudstream.errors import DataFileError
from fraudstream.evaluation.drift import build_reference
from fraudstream.evaluation.measures import average_precision
from fraudstream.monitoring.report import Goal, build_report, write_report
from fraudstream.monitoring.report_data import ReportData, _flatten, _normalise

EPOCH = pd.Timestamp(0, tz="UTC")


def _data(n: int = 4_000, *, shadow: bool = False, seed: int = 1) -> ReportData:
    rng = np.random.default_rng(seed)
    fraud = rng.random(n) < 0.05
    score = np.clip(np.where(fraud, 0.6, 0.1) + rng.normal(0, 0.15, n), 0, 1)
    event = pd.Timestamp("2024-04-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 60, unit="s")
    scored_at = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 5, unit="ms")
    records = pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "event_time": event.astype(str),
            "scored_at": scored_at.astype(str),
            "source_timestamp_ms": (scored_at - EPOCH) // pd.Timedelta(milliseconds=1) - 8,
            "score": score,
            "alert": score >= 0.5,
            "model_version": "logreg-1",
            "amount": rng.lognormal(3, 1, n) * np.where(np.arange(n) < n // 2, 1, 3),
        }
    )
    if shadow:
        records["shadow_score"] = np.clip(np.where(fraud, 0.8, 0.1) + rng.normal(0, 0.1, n), 0, 1)
    labels = pd.DataFrame({"transaction_id": records["transaction_id"], "is_fraud": fraud})
    return _normalise(records, labels, "test")


def test_the_summary_counts_alerts_labels_and_latency() -> None:
    data = _data()
    report = build_report(data)
    s = report.summary
    truth = data.labels["is_fraud"].to_numpy()
    alerts = data.scored["alert"].to_numpy()
    assert s.scored == len(data.scored) == 4_000
    assert s.alerts == int(alerts.sum())
    assert s.labelled == 4_000
    assert s.fraud_rate == pytest.approx(truth.mean())
    assert s.alert_precision == pytest.approx((truth & alerts).sum() / alerts.sum())
    assert s.alert_recall == pytest.approx((truth & alerts).sum() / truth.sum())
    assert s.latency_p50_ms == pytest.approx(8.0, abs=1.0)
    assert s.throughput == pytest.approx(200.0, rel=0.01)  # one every 5 ms
    assert 0.3 < s.champion_average_precision <= 1.0
    assert s.challenger_average_precision is None


def test_a_shadow_challenger_gets_its_own_pr_auc() -> None:
    report = build_report(_data(shadow=True))
    challenger = report.summary.challenger_average_precision
    assert challenger is not None
    assert challenger > report.summary.champion_average_precision


def test_drift_without_a_reference_compares_the_halves() -> None:
    report = build_report(_data())
    assert "first half" in report.drift_basis
    assert report.drift["amount"] > 0.25  # amounts triple in the second half
    assert report.drift["score"] < 0.1


def test_drift_against_a_reference() -> None:
    data = _data()
    reference = build_reference(data.scored[["amount"]].iloc[:100])
    report = build_report(data, reference)
    assert report.drift_basis == "against the training reference"
    assert set(report.drift) == {"amount"}


def test_the_page_is_self_contained_html_with_every_figure(tmp_path: Path) -> None:
    report = build_report(_data(shadow=True), title="a <test> run")
    page = write_report(report, tmp_path / "deep" / "report.html").read_text()
    assert page.startswith("<!doctype html>")
    assert "a &lt;test&gt; run" in page  # escaped
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', page)) == 5
    assert "shadow challenger" in page
    assert "http" not in page  # nothing fetched from elsewhere


def test_a_time_range_keeps_only_its_transactions() -> None:
    data = _data()
    part = data.between(pd.Timestamp("2024-04-01T10:00", tz="UTC"), None)
    assert len(part.scored) == 4_000 - 600
    assert set(part.labels["transaction_id"]) == set(part.scored["transaction_id"])


def test_records_scored_twice_count_once_and_features_are_flattened() -> None:
    record = {"transaction_id": "a", "features": {"amount": 3.0}, "score": 0.1}
    assert _flatten(dict(record)) == {"amount": 3.0, "transaction_id": "a", "score": 0.1}
    data = _data(10)
    twice = pd.concat([data.scored, data.scored.tail(1)])
    assert len(_normalise(twice, data.labels, "x").scored) == 10


def test_no_scored_record_is_a_clear_error() -> None:
    with pytest.raises(DataFileError, match="no scored transactions"):
        _normalise(pd.DataFrame(), pd.DataFrame(), "empty")
    with pytest.raises(DataFileError, match="lack"):
        _normalise(pd.DataFrame({"transaction_id": ["a"]}), pd.DataFrame(), "partial")


def test_average_precision_by_event_day_uses_each_day_s_labels_only() -> None:
    data = _data()
    daily = build_report(data).summary.daily_average_precision
    joined = data.scored.merge(data.labels, on="transaction_id")
    days = joined["event_time"].dt.date
    assert [d.isoformat() for d in daily] == ["2024-04-01", "2024-04-02", "2024-04-03"]
    for day, value in daily.items():
        part = joined[days == day]
        expected = average_precision(part["is_fraud"].to_numpy(bool), part["score"].to_numpy())
        assert value == pytest.approx(expected)


def test_goals_are_shown_with_their_verdicts(tmp_path: Path) -> None:
    report = build_report(_data())
    report.goals = [
        Goal("latency p99", "<= 250 ms", "12 ms", True),
        Goal("steady quality", "within 0.05", "0.700 vs 0.600", False),
    ]
    html = write_report(report, tmp_path / "report.html").read_text()
    assert "<h2>Goals</h2>" in html
    assert re.search(r"latency p99.*?&lt;= 250 ms.*?12 ms.*?met</td>", html, re.S)
    assert re.search(r"steady quality.*?0\.700 vs 0\.600.*?missed</td>", html, re.S)


def test_a_report_without_goals_has_no_goals_section(tmp_path: Path) -> None:
    html = write_report(build_report(_data()), tmp_path / "report.html").read_text()
    assert "<h2>Goals</h2>" not in html
