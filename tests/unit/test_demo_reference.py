"""The demo's yardstick: a batch model with the full history, per replayed day."""

from __future__ import annotations

from datetime import date, timedelta

from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.demo.reference import reference_daily_average_precision


def test_the_reference_ranks_each_day_with_the_labels_known_by_its_start() -> None:
    frame = simulate(SimulatorConfig(customers=300, terminals=600, days=12, seed=4))
    first = frame["event_time"].iloc[0].date()
    days = [first, first + timedelta(days=10), first + timedelta(days=11)]
    result = reference_daily_average_precision(frame, timedelta(days=1), days)
    # nothing is known on the first day: no reference; later days are ranked well
    assert list(result) == days[1:]
    assert all(0.3 < value <= 1.0 for value in result.values())
    assert isinstance(next(iter(result)), date)
