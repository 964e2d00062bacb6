"""The demo's goals, checked on run reports built from frames (no services)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from fraudstream.demo.goals import demo_goals
from fraudstream.monitoring.report import Goal, build_report
from fraudstream.monitoring.report_data import ReportData, _normalise

EPOCH = pd.Timestamp(0, tz="UTC")


def _data(
    *,
    n: int = 6_000,
    amount_scale_after_half: float = 1.0,
    last_day_noise: float = 0.1,
    tail_latency_ms: float = 8.0,
) -> ReportData:
    """Three event days of served records; scores of the last day as noisy as asked."""
    rng = np.random.default_rng(3)
    fraud = rng.random(n) < 0.05
    event = pd.Timestamp("2024-04-22", tz="UTC") + pd.to_timedelta(np.arange(n) * 43, unit="s")
    noise = np.where(event >= pd.Timestamp("2024-04-24", tz="UTC"), last_day_noise, 0.1)
    score = np.clip(np.where(fraud, 0.6, 0.2) + rng.normal(0, 1, n) * noise, 0, 1)
    scored_at = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 5, unit="ms")
    latency_ms = np.where(np.arange(n) >= int(n * 0.85), tail_latency_ms, 8.0)
    sent_ms = (scored_at - EPOCH) // pd.Timedelta(milliseconds=1) - latency_ms
    amount = rng.lognormal(3, 1, n) * np.where(np.arange(n) < n // 2, 1, amount_scale_after_half)
    records = pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "event_time": event.astype(str),
            "scored_at": scored_at.astype(str),
            "source_timestamp_ms": sent_ms.astype(np.int64),
            "score": score,
            "alert": score >= 0.5,
            "amount": amount,
        }
    )
    labels = pd.DataFrame({"transaction_id": records["transaction_id"], "is_fraud": fraud})
    return _normalise(records, labels, "test")


FIRST, LAST = date(2024, 4, 22), date(2024, 4, 24)


def _goals(
    data: ReportData, wall_s: float = 150.0, reference: dict[date, float] | None = None
) -> dict[str, Goal]:
    report = build_report(data)
    if reference is None:  # the reference ranks exactly as well as the served scores
        reference = dict(report.summary.daily_average_precision)
    goals = demo_goals(report, data.scored, wall_s, reference)
    return {goal.name.split(",")[0]: goal for goal in goals}


def test_a_steady_run_meets_every_goal() -> None:
    goals = _goals(_data())
    assert [g.name for g in goals.values() if not g.met] == []
    assert len(goals) == 4  # drift, quality, latency (two, one key), time


def test_features_that_move_between_the_halves_miss_the_drift_goal() -> None:
    goal = _goals(_data(amount_scale_after_half=3.0))["no drift between the run's halves"]
    assert not goal.met
    assert "(amount)" in goal.measured


def test_a_first_day_well_below_the_reference_misses_the_quality_goal() -> None:
    data = _data(last_day_noise=0.5)  # the last day is far worse: not the goal's business
    daily = build_report(data).summary.daily_average_precision
    assert daily[FIRST] - daily[LAST] > 0.05
    reference = {FIRST: daily[FIRST] + 0.04, LAST: daily[LAST]}
    assert _goals(data, reference=reference)["average precision"].met
    reference[FIRST] = daily[FIRST] + 0.06
    goal = _goals(data, reference=reference)["average precision"]
    assert not goal.met
    assert goal.measured.startswith(f"{daily[FIRST]:.3f} vs {reference[FIRST]:.3f} (last day")


def test_without_a_reference_for_the_first_day_the_quality_goal_is_missed() -> None:
    assert not _goals(_data(), reference={})["average precision"].met


def test_a_lag_that_grows_at_the_end_misses_the_latency_goals() -> None:
    data = _data(tail_latency_ms=400.0)
    report = build_report(data)
    goals = demo_goals(report, data.scored, 150.0, report.summary.daily_average_precision)
    by_name = {g.name: g for g in goals}
    assert not by_name["latency p99, last fifth of the run"].met
    assert by_name["latency p99, last fifth of the run"].measured == "400 ms"


def test_a_demo_over_three_minutes_misses_the_time_goal() -> None:
    assert not _goals(_data(), wall_s=181.0)["demo time"].met
    assert _goals(_data(), wall_s=179.0)["demo time"].met


def test_calendar_features_are_left_out_of_the_drift_goal() -> None:
    data = _data()
    n = len(data.scored)
    # weekends make up a fifth of the first half and four fifths of the second
    weekend = np.where(np.arange(n) < n // 2, np.arange(n) % 5 == 0, np.arange(n) % 5 != 0)
    scored = data.scored.assign(is_weekend=weekend.astype(float))
    report = build_report(ReportData(scored, data.labels, "test"))
    assert report.drift["is_weekend"] > 0.25
    goal = demo_goals(report, scored, 150.0, {})[0]
    assert goal.met
    assert "is_weekend" not in goal.measured
