"""Compare champion and challenger on the latest labelled window, then promote or keep.

The window is the ``TRAIN_EVAL_WINDOW`` that ends ``TRAIN_LABEL_DELAY`` before the
cutoff (so its labels are complete), with the labels known at the cutoff. The champion
is judged by the scores it actually served (the archive's ``score``), the challenger by
scoring the same archived features. A challenger is only comparable when it was trained
on data that ends where the window starts: :func:`training_cutoff` gives the cutoff to
train it with, and a challenger trained later than that is refused, never compared on
its own training data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import structlog

from fraudstream.config import Settings
from fraudstream.promotion.aliases import PromotionError, promote
from fraudstream.promotion.decision import Comparison, Decision, decide
from fraudstream.registry.client import Registry
from fraudstream.registry.loading import load_candidate
from fraudstream.training.dataset import LABEL, Window, build_training_set, feature_columns
from fraudstream.training.dataset import feature_names as strip_prefix
from fraudstream.training.evaluate import measure
from fraudstream.training.pipeline import parse_cutoff

log = structlog.get_logger(__name__)


def evaluation_window(settings: Settings, cutoff: str) -> Window:
    """The labelled window champion and challenger are compared on.

    >>> w = evaluation_window(Settings.load(), "2024-06-01")
    >>> w.start.date().isoformat(), w.end.date().isoformat()
    ('2024-05-18', '2024-05-25')
    """
    stamp = parse_cutoff(cutoff)
    end = stamp - pd.Timedelta(settings.training.label_delay)
    return Window(cutoff=stamp, start=end - pd.Timedelta(settings.training.eval_window), end=end)


def training_cutoff(settings: Settings, cutoff: str) -> str:
    """The cutoff to train a challenger with, so its data ends where the window starts."""
    return (parse_cutoff(cutoff) - pd.Timedelta(settings.training.eval_window)).isoformat()


def compare_and_promote(settings: Settings, cutoff: str) -> dict[str, Any]:
    """Measure both on the window of ``cutoff``; promote the challenger when it wins.

    Returns the decision with its evidence (JSON-able: an Airflow XCom, a CLI report).
    The challenger version is tagged with the decision either way, so MLflow shows why
    it was or was not promoted.
    """
    registry = Registry(settings.mlflow.tracking_uri, settings.mlflow.registered_model_name)
    window = evaluation_window(settings, cutoff)
    challenger = registry.by_alias(settings.mlflow.challenger_alias)
    if challenger is None:
        return {"promote": False, "reason": "no challenger registered", "cutoff": cutoff}
    champion = registry.by_alias(settings.mlflow.champion_alias)
    if champion is not None and champion.version == challenger.version:
        return {"promote": False, "reason": "the challenger already is champion"}
    trained_until = registry.run_params(challenger.run_id or "").get("end")
    if trained_until is None or pd.Timestamp(trained_until) > window.start:
        raise PromotionError(
            f"challenger version {challenger.version} was trained on data up to "
            f"{trained_until}, inside the evaluation window starting {window.start}; "
            f"train it with the cutoff {training_cutoff(settings, cutoff)}"
        )
    frame = build_training_set(settings.archive.path, window)
    if frame.empty:
        decision = Decision(False, "no labelled transactions in the evaluation window")
        return {"promote": False, "reason": decision.reason, "cutoff": cutoff}
    model = load_candidate(challenger, settings.mlflow.tracking_uri)
    if model is None:
        raise PromotionError("a River challenger cannot be compared offline; register XGBoost")
    columns = feature_columns(frame)
    features = frame[columns].set_axis(strip_prefix(columns), axis=1)
    y = frame[LABEL].to_numpy(dtype=bool)
    served = frame["score"].to_numpy(dtype=np.float64)
    challenger_scores = model.score(features)

    def measures(scores: np.ndarray) -> dict[str, float]:
        return measure(
            y,
            scores,
            event_time=frame["event_time"],
            card_id=frame["card_id"],
            threshold=settings.scorer.threshold,
        )

    champion_measures, challenger_measures = measures(served), measures(challenger_scores)
    served_by = frame["model_version"].mode().iloc[0]
    comparison = Comparison(
        window_start=window.start.isoformat(),
        window_end=window.end.isoformat(),
        rows=len(frame),
        frauds=int(y.sum()),
        champion_version=champion.label if champion is not None else str(served_by),
        challenger_version=challenger.version,
        champion_ap=champion_measures["average_precision"],
        challenger_ap=challenger_measures["average_precision"],
    )
    decision = decide(comparison, settings.mlflow.promotion_margin)
    evidence = {
        **{f"champion_{k}": v for k, v in champion_measures.items()},
        **{f"challenger_{k}": v for k, v in challenger_measures.items()},
    }
    registry.tag_version(
        challenger.version,
        {
            "fraudstream.compared_at_cutoff": parse_cutoff(cutoff).isoformat(),
            "fraudstream.comparison": decision.reason,
            **{f"fraudstream.comparison.{k}": f"{v:.6f}" for k, v in evidence.items()},
        },
    )
    log.info("champion vs challenger", promote=decision.promote, reason=decision.reason)
    result = {**decision.as_dict(comparison), "cutoff": cutoff, "metrics": evidence}
    if decision.promote:
        event = promote(settings, registry, challenger.version, decision.reason, evidence)
        result["event"] = {"event": event.event, "version": event.version}
    return result
