"""A learned blend of two models, fitted only on labels neither had seen.

The online learner and the batch model rank frauds differently; how much of the
batch model's opinion to add to the online one is itself learned, online:

    p = sigmoid(z_online + a * z_online + b * z_batch + c)

with ``z`` the log-odds of each model's score. It starts at ``a = b = c = 0``, the
online model alone, and is refit (a few Newton steps of an L2-penalised logistic
regression with ``z_online`` as offset) every ``refit_every`` labels, on the labels
that had arrived by then of rows both models scored out of sample: rows after the
batch model's training window, scored by the online learner before it learned them.
A row is scored by the blend fitted on the labels that had arrived before its own
event time, so no score uses a label it could not have known.
"""

from __future__ import annotations

from typing import Final

import numpy as np

#: Scores are clipped this far from 0 and 1 before taking log-odds.
_EPSILON: Final = 1e-6
#: The L2 penalty on (a, b, c): with few labels the blend stays near the online model.
PENALTY: Final = 10.0
#: Newton steps per refit (three parameters: it converges in a handful).
_STEPS: Final = 8


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` without overflow for large ``|z|``."""
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)


def log_odds(scores: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` of scores clipped into (0, 1).

    >>> log_odds(np.array([0.5, 0.0])).round(2).tolist()
    [0.0, -13.82]
    """
    p = np.clip(np.asarray(scores, dtype=np.float64), _EPSILON, 1.0 - _EPSILON)
    return np.asarray(np.log(p / (1.0 - p)), dtype=np.float64)


def fit_blend(
    online: np.ndarray, batch: np.ndarray, y: np.ndarray, penalty: float = PENALTY
) -> np.ndarray:
    """``(a, b, c)`` of the blend, fitted on log-odds ``online`` and ``batch`` against
    ``y``; zeros (the online model alone) without a fraud and a genuine label.

    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(4000) < 0.1
    >>> online = np.where(y, 0.0, -2.0) + rng.normal(0, 2, 4000)  # weak
    >>> batch = np.where(y, 1.0, -3.0) + rng.normal(0, 1, 4000)  # strong
    >>> a, b, c = fit_blend(online, batch, y)
    >>> bool(b > 0.5 and a < 0)  # trusts the batch model more, the online one less
    True
    """
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0 or y.min() == y.max():
        return np.zeros(3)
    x = np.column_stack([online, batch, np.ones_like(online)])
    theta = np.zeros(3)
    for _ in range(_STEPS):
        p = _sigmoid(online + x @ theta)
        gradient = x.T @ (p - y) + penalty * theta
        hessian = (x * (p * (1.0 - p))[:, None]).T @ x + penalty * np.eye(3)
        theta -= np.linalg.solve(hessian, gradient)
    return theta


def blend_scores(
    online: np.ndarray,
    batch: np.ndarray,
    y: np.ndarray,
    event_ns: np.ndarray,
    arrival_ns: np.ndarray,
    scored: np.ndarray,
    *,
    refit_every: int = 1_000,
) -> np.ndarray:
    """The blend's score of each row in ``scored`` (positions, in event-time order).

    ``online`` and ``batch`` are both models' scores of every row (all out of sample),
    ``y`` their labels, ``event_ns`` their event times and ``arrival_ns`` when each
    label arrives (both int64 nanoseconds, rows in event-time order). A scored row
    uses the blend refit on the labels that had arrived before its event time, at the
    last multiple of ``refit_every`` of them.

    >>> online = np.array([0.9, 0.1, 0.8, 0.2])
    >>> batch = np.array([0.1, 0.9, 0.2, 0.9])
    >>> times = np.arange(4)
    >>> blend_scores(online, batch, np.array([1, 0, 0, 1]), times, times + 10, np.arange(4))
    array([0.9, 0.1, 0.8, 0.2])
    """
    z_online, z_batch = log_odds(online), log_odds(batch)
    order = np.argsort(arrival_ns, kind="stable")
    rows = np.asarray(scored)
    arrived = np.searchsorted(arrival_ns[order], event_ns[rows], side="left")
    fitted = arrived // refit_every * refit_every
    out = np.empty(len(rows))
    for count in np.unique(fitted):
        known = order[:count]
        a, b, c = fit_blend(z_online[known], z_batch[known], y[known])
        at = fitted == count
        z = z_online[rows[at]] * (1.0 + a) + b * z_batch[rows[at]] + c
        out[at] = _sigmoid(z)
    return out
