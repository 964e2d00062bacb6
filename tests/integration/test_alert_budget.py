"""The daily alert budget: at most K alerts per event-time day, over all replicas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
import redis

from fraudstream.scoring.decide import Decider

DAY_1 = datetime(2024, 4, 1, 12, 0, tzinfo=UTC)
DAY_2 = DAY_1 + timedelta(days=1)


def test_without_a_budget_every_score_at_the_threshold_alerts() -> None:
    decider = Decider(0.5)
    alerts = decider.decide(np.array([0.49, 0.5, 0.99]), [DAY_1] * 3)
    assert alerts.tolist() == [False, True, True]


def test_a_budget_needs_redis() -> None:
    with pytest.raises(ValueError, match="needs Redis"):
        Decider(0.5, budget_per_day=3)


def test_the_budget_takes_the_highest_scores_of_each_day(client: redis.Redis, prefix: str) -> None:
    decider = Decider(0.5, budget_per_day=2, client=client, prefix=prefix)
    scores = np.array([0.6, 0.9, 0.7, 0.4, 0.8, 0.95])
    days = [DAY_1, DAY_1, DAY_1, DAY_1, DAY_2, DAY_2]
    assert decider.decide(scores, days).tolist() == [False, True, True, False, True, True]


def test_replicas_share_one_days_budget(client: redis.Redis, prefix: str) -> None:
    first = Decider(0.5, budget_per_day=3, client=client, prefix=prefix)
    second = Decider(0.5, budget_per_day=3, client=client, prefix=prefix)
    assert first.decide(np.array([0.9, 0.8]), [DAY_1, DAY_1]).sum() == 2
    assert second.decide(np.array([0.99, 0.7]), [DAY_1, DAY_1]).tolist() == [True, False]
    assert first.decide(np.array([1.0]), [DAY_1]).tolist() == [False]  # the day is spent
    assert second.decide(np.array([0.6]), [DAY_2]).tolist() == [True]  # a new day


def test_the_day_is_the_utc_date_of_the_event_time(client: redis.Redis, prefix: str) -> None:
    decider = Decider(0.5, budget_per_day=1, client=client, prefix=prefix)
    # 23:30 on 1 April at UTC-2 is 01:30 on 2 April in UTC
    late_evening = datetime(2024, 4, 1, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    assert decider.decide(np.array([0.9]), [late_evening]).tolist() == [True]
    assert decider.decide(np.array([0.9]), [DAY_2]).tolist() == [False]
    assert decider.decide(np.array([0.9]), [DAY_1]).tolist() == [True]
