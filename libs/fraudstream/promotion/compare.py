"""Compare champion and challenger on the latest labelled window, then promote or keep.

The window is the ``TRAIN_EVAL_WINDOW`` that ends ``TRAIN_LABEL_DELAY`` before the
cutoff (so its labels are complete), with the labels known at the cutoff. The champion
is judged by the scores it actually served (the archive's ``score``), the challenger by
scoring the same archived features. A challenger is only comparable on transactions
whose labels it cannot have known: those from its training rows' end plus the label
delay on (:mod:`~fraudstream.promotion.leakage`). So the window must start there or
later; :func:`training_cutoff` gives the cutoff to train it with (the window's start:
its rows then end a label delay before the window), and a challenger trained later
than that is refused, never compared on transactions it may have learned from.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import structlog

from fraudstream.config import Settings
from fraudstream.promotion.aliases import PromotionError, promote
from fraudstream.promotion.decision import Comparison, Decision, decide
from fraudstream.promotion.leakage import TrainedOn
from fraudstream.registry.client import Candidate, Registry
from fraudstream.registry.loading import load_candidate
from fraudstream.training.dataset import LABEL, Window, build_training_set
from fraudstream.training.evaluate import archived_features, measure_frame
from fraudstream.training.pipeline import parse_cutoff
from fraudstream.training.tracking import require_server

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
    """The latest cutoff a challenger compared at ``cutoff`` may be trained with: the
    window's start (``TRAIN_EVAL_WINDOW`` + ``TRAIN_LABEL_DELAY`` before ``cutoff``), so
    its transactions end a label delay before the window and no label it may have known
    belongs to a transaction it is judged on.

    >>> training_cutoff(Settings.load(), "2024-06-01")
    '2024-05-18T00:00:00+00:00'
    """
    return evaluation_window(settings, cutoff).start.isoformat()


def check_unseen(
    settings: Settings, challenger: Candidate, params: dict[str, str], window: Window
) -> None:
    """Raise :class:`PromotionError` unless every transaction of ``window`` is unseen by
    ``challenger`` (trained on the transactions and labels its run's ``params`` name)."""
    trained = TrainedOn.of(params)
    advice = f"train it with the cutoff {window.start.isoformat()} or earlier"
    if trained is None:
        raise PromotionError(
            f"challenger version {challenger.version} has no training window in its run "
            f"(param 'end'), so it cannot be shown to be unseen by the evaluation window "
            f"starting {window.start.isoformat()}; {advice}"
        )
    delay = settings.training.label_delay
    unseen = trained.unseen_from(delay)
    if unseen > window.start:
        raise PromotionError(
            f"challenger version {challenger.version} was trained on transactions up to "
            f"{trained.end.isoformat()}: with the label delay {pd.Timedelta(delay)}, labels "
            f"of transactions up to {unseen.isoformat()} may have been known to it, inside "
            f"the evaluation window starting {window.start.isoformat()}; {advice}"
        )


def compare_and_promote(settings: Settings, cutoff: str) -> dict[str, Any]:
    """Measure both on the window of ``cutoff``; promote the challenger when it wins.

    Returns the decision with its evidence (JSON-able: an Airflow XCom, a CLI report).
    The challenger version is tagged with the decision either way, so MLflow shows why
    it was or was not promoted.
    """
    require_server(settings.mlflow.tracking_uri)
    registry = Registry(settings.mlflow.tracking_uri, settings.mlflow.registered_model_name)
    window = evaluation_window(settings, cutoff)
    challenger = registry.by_alias(settings.mlflow.challenger_alias)
    if challenger is None:
        return {"promote": False, "reason": "no challenger registered", "cutoff": cutoff}
    champion = registry.by_alias(settings.mlflow.champion_alias)
    if champion is not None and champion.version == challenger.version:
        return {"promote": False, "reason": "the challenger already is champion"}
    check_unseen(settings, challenger, registry.run_params(challenger.run_id or ""), window)
    frame = build_training_set(settings.archive.path, window)
    if frame.empty:
        decision = Decision(False, "no labelled transactions in the evaluation window")
        return {"promote": False, "reason": decision.reason, "cutoff": cutoff}
    model = load_candidate(challenger, settings.mlflow.tracking_uri)
    if model is None:
        raise PromotionError("a River challenger cannot be compared offline; register XGBoost")
    y = frame[LABEL].to_numpy(dtype=bool)
    threshold = settings.scorer.threshold
    served = frame["score"].to_numpy(dtype=np.float64)
    champion_measures = measure_frame(frame, served, threshold=threshold)
    challenger_scores = model.score(archived_features(frame))
    challenger_measures = measure_frame(frame, challenger_scores, threshold=threshold)
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
