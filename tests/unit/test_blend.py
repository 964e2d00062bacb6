"""The learned blend of the online and batch models: what it learns, and when."""

from __future__ import annotations

import numpy as np

from fraudstream.evaluation.blend import blend_scores
from fraudstream.evaluation.measures import average_precision

HOUR = 3_600 * 10**9


def _two_models(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.05
    online = 1 / (1 + np.exp(-(np.where(y, 0.0, -3.0) + rng.normal(0, 1.5, n))))
    batch = 1 / (1 + np.exp(-(np.where(y, 0.0, -3.0) + rng.normal(0, 1.5, n))))
    return online, batch, y


def test_two_models_with_independent_errors_blend_better_than_either() -> None:
    online, batch, y = _two_models(20_000)
    times = np.arange(len(y)) * HOUR // 100
    later = np.flatnonzero(times >= times[len(y) // 2])
    blended = blend_scores(online, batch, y, times, times + 24 * HOUR, later)
    assert average_precision(y[later], blended) > average_precision(y[later], online[later])
    assert average_precision(y[later], blended) > average_precision(y[later], batch[later])


def test_a_label_arriving_after_a_row_never_changes_its_score() -> None:
    online, batch, y = _two_models(5_000, seed=1)
    times = np.arange(len(y)) * HOUR // 10
    arrival = times + 24 * HOUR
    rows = np.arange(len(y))
    scores = blend_scores(online, batch, y, times, arrival, rows, refit_every=100)
    cut = times[3_000]
    flipped = np.where(times >= cut, ~y, y)
    changed = blend_scores(online, batch, flipped, times, arrival, rows, refit_every=100)
    known_by = times <= cut + 24 * HOUR
    np.testing.assert_array_equal(scores[known_by], changed[known_by])
    assert (scores[~known_by] != changed[~known_by]).any()
    # before the first labels arrive the blend is the online model alone
    first = times < arrival[0]
    np.testing.assert_allclose(scores[first], online[first])
