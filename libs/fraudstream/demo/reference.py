"""What a model with the full history scores on a replayed day: the demo's yardstick.

Simulated days differ in how hard their frauds are to rank, by more than the demo's
quality goal allows: on the demo's data a batch model retrained every day with every
label it could know ranks the first replayed day at an average precision of 0.83 and
the last at 0.91. So the demo compares its first day with this reference rather than
with its last day: a store or a model that starts cold falls behind the reference on
the first day; one that starts warm keeps up with it.

The reference for day ``d`` is an XGBoost model (the online booster's settings,
:data:`~fraudstream.models.online.BOOSTER_PARAMS`, 200 rounds) trained on every
transaction whose label is known by the start of ``d`` (event time plus the label
delay), on the offline features (:func:`~fraudstream.features.served.model_inputs`, the
same values the scorer serves), and scored on the transactions of ``d``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Final

import numpy as np
import pandas as pd
import xgboost as xgb

from fraudstream.evaluation.measures import average_precision
from fraudstream.features.served import model_inputs
from fraudstream.models.online import BOOSTER_PARAMS

ROUNDS: Final = 200


def reference_daily_average_precision(
    frame: pd.DataFrame, label_delay: timedelta, days: Iterable[date]
) -> dict[date, float]:
    """The reference's average precision on each of ``days`` (UTC) of ``frame``."""
    features = model_inputs(frame, label_delay).to_numpy(dtype=np.float32)
    truth = frame["is_fraud"].to_numpy(dtype=bool)
    times = frame["event_time"]
    result: dict[date, float] = {}
    for day in days:
        start = pd.Timestamp(day, tz="UTC")
        known = (times + label_delay <= start).to_numpy()
        scored = ((times >= start) & (times < start + pd.Timedelta(days=1))).to_numpy()
        if not truth[known].any() or not truth[scored].any():
            continue
        booster = xgb.train(
            BOOSTER_PARAMS, xgb.DMatrix(features[known], label=truth[known]), ROUNDS
        )
        scores = booster.predict(xgb.DMatrix(features[scored]))
        result[day] = average_precision(truth[scored], scores)
    return result
