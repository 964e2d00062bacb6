"""The demo's goals, checked on its run report and printed in both its summaries.

- No drift between the run's halves: every feature's PSI below ``ACT_PSI`` (a feature
  store that starts empty fails it: its 7- and 30-day windows fill up during the run).
  The calendar features (hour, night, weekend) are left out: the two halves of a
  replayed week hold different days by construction.
- Warm from the first day: the average precision of the served scores on the first
  replayed day at most ``DAY_GAP`` below a reference's, a batch model with the full
  history (:mod:`fraudstream.demo.reference`; simulated days differ too much for a
  comparison with the last day to say anything about warm-up).
- Latency: p99 of Kafka timestamp to scoring at most ``LATENCY_P99_MS`` over the whole
  run, and over its last fifth (a lag that grows shows there first).
- The whole demo, start to report, within ``WALL_S``.

"""

from __future__ import annotations

from datetime import date
from typing import Final

import pandas as pd

from fraudstream.evaluation.drift import ACT_PSI, SCORE
from fraudstream.features.definitions import TIME_FEATURES
from fraudstream.monitoring.report import Goal, Report, latency_ms

DAY_GAP: Final = 0.05
LATENCY_P99_MS: Final = 250.0
WALL_S: Final = 180.0
#: The tail of the run (by scoring time) checked for a growing lag.
TAIL: Final = 0.2


def demo_goals(
    report: Report, scored: pd.DataFrame, wall_s: float, reference: dict[date, float]
) -> list[Goal]:
    """The goals of a demo run: its report, its served records, its wall-clock time and
    the reference's average precision by day."""
    return [
        _drift(report),
        _warm_first_day(report, reference),
        _latency("latency p99, whole run", report.summary.latency_p99_ms),
        _latency("latency p99, last fifth of the run", latency_ms(_tail(scored), 0.99)),
        Goal(
            "demo time, start to report", f"<= {WALL_S:.0f} s", f"{wall_s:.0f} s", wall_s <= WALL_S
        ),
    ]


def _tail(scored: pd.DataFrame) -> pd.DataFrame:
    ordered = scored.sort_values("scored_at", kind="stable")
    return ordered.iloc[int(len(ordered) * (1 - TAIL)) :]


def _drift(report: Report) -> Goal:
    left_out = {SCORE, *TIME_FEATURES}
    features = {name: value for name, value in report.drift.items() if name not in left_out}
    target = f"every non-calendar feature's PSI < {ACT_PSI}"
    name = "no drift between the run's halves"
    if not features:
        return Goal(name, target, "no feature measured", False)
    worst = max(features, key=lambda column: features[column])
    return Goal(name, target, f"highest {features[worst]:.3f} ({worst})", features[worst] < ACT_PSI)


def _warm_first_day(report: Report, reference: dict[date, float]) -> Goal:
    days = report.summary.daily_average_precision
    name = "average precision, first replayed day"
    target = f"at most {DAY_GAP} below a batch model with the full history"
    if not days:
        return Goal(name, target, "no labelled day", False)
    first, last = min(days), max(days)
    if first not in reference:
        return Goal(name, target, f"{days[first]:.3f}; no reference for {first}", False)
    measured = f"{days[first]:.3f} vs {reference[first]:.3f}"
    if last != first and last in reference:
        measured += f" (last day {days[last]:.3f} vs {reference[last]:.3f})"
    return Goal(name, target, measured, days[first] >= reference[first] - DAY_GAP)


def _latency(name: str, p99_ms: float | None) -> Goal:
    target = f"<= {LATENCY_P99_MS:.0f} ms"
    if p99_ms is None:
        return Goal(name, target, "no latency recorded", False)
    return Goal(name, target, f"{p99_ms:.0f} ms", p99_ms <= LATENCY_P99_MS)
