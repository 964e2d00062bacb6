"""One registered model measured on a held-out period of the archive (``fraudstream evaluate``).

The period's transactions are the archived ones with ``start <= event_time < end``,
with the latest label known now (unlabelled ones are left out). The measures are the
training's (:func:`~fraudstream.training.evaluate.measure`, ``SCORER_THRESHOLD``):

- a **River** champion is the online model, which keeps learning and has no frozen
  copy: it is judged by the scores served then (the archive's ``score``), and the
  result says which model versions served them;
- any other version (``champion``, ``challenger`` or a number) is loaded from MLflow
  (:func:`~fraudstream.registry.loading.load_candidate`) and scores the archived
  features.

A loaded model is refused (:class:`EvaluationError`) on a period that overlaps its
training transactions (its run's ``start`` and ``end``): those measures would be
in-sample. A period that starts after them but within a label delay of their end, or
ends before them, is measured with a warning in the result: labels of the first may
have been known to the model (:mod:`~fraudstream.promotion.leakage`), and the second is
a backtest with hindsight. A period that ends less than a label delay ago is measured
with a warning too: its labels are not all known yet.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from fraudstream.config import Settings
from fraudstream.errors import ConfigError, DataFileError, FraudstreamError
from fraudstream.promotion.leakage import TrainedOn
from fraudstream.registry.client import Candidate, Registry
from fraudstream.registry.loading import load_candidate
from fraudstream.training.dataset import LABEL, Window, build_training_set
from fraudstream.training.evaluate import archived_features, measure_frame
from fraudstream.training.pipeline import parse_cutoff
from fraudstream.training.tracking import require_server

#: What ``--model`` names besides a version number.
ALIASES = ("champion", "challenger")


class EvaluationError(FraudstreamError):
    """A model cannot be measured on a period: unknown model, no data, in-sample period."""

    exit_code = 65  # EX_DATAERR


def parse_period(start: str, end: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` as UTC timestamps; ConfigError unless ``start < end``.

    >>> [t.isoformat() for t in parse_period("2024-05-01", "2024-05-08")]
    ['2024-05-01T00:00:00+00:00', '2024-05-08T00:00:00+00:00']
    >>> parse_period("2024-05-08", "2024-05-01")
    Traceback (most recent call last):
    ...
    fraudstream.errors.ConfigError: the period 2024-05-08 .. 2024-05-01 is empty
    """
    first, last = parse_cutoff(start), parse_cutoff(end)
    if first >= last:
        raise ConfigError(f"the period {start} .. {end} is empty")
    return first, last


def check_model_name(which: str) -> None:
    """ConfigError unless ``which`` is ``champion``, ``challenger`` or a version number.

    >>> check_model_name("3"), check_model_name("champion")
    (None, None)
    >>> check_model_name("best")
    Traceback (most recent call last):
    ...
    fraudstream.errors.ConfigError: model 'best' is not champion, challenger or a version number
    """
    if which not in ALIASES and not which.isdigit():
        raise ConfigError(f"model {which!r} is not champion, challenger or a version number")


def resolve(settings: Settings, registry: Registry, which: str) -> Candidate:
    """The version ``which`` names; EvaluationError when there is none."""
    mlflow = settings.mlflow
    aliases = {"champion": mlflow.champion_alias, "challenger": mlflow.challenger_alias}
    if which in aliases:
        found = registry.by_alias(aliases[which])
        missing = f"no version of {registry.name} has the alias {aliases[which]!r}"
    else:
        found = registry.version(which)
        missing = f"{registry.name} has no version {which}"
    if found is None:
        raise EvaluationError(f"{missing} (MLflow at {mlflow.tracking_uri})")
    return found


def evaluate_model(
    settings: Settings, which: str, start: str, end: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """Measure the model ``which`` on the archived period ``[start, end)``.

    Returns ``{"model", "version", "flavor", "scores", "start", "end", "labels_known_at",
    "rows", "frauds", "measures", "warnings"}`` and, by source, ``served_by`` (model
    version -> rows) or ``trained_on`` (the training transactions' ``start`` and
    ``end``, None when its run does not say).
    """
    first, last = parse_period(start, end)
    check_model_name(which)
    known_at = parse_cutoff(now or datetime.now(UTC))
    require_server(settings.mlflow.tracking_uri)
    registry = Registry(settings.mlflow.tracking_uri, settings.mlflow.registered_model_name)
    candidate = resolve(settings, registry, which)
    served = candidate.flavor == "river"
    warnings: list[str] = []
    trained: TrainedOn | None = None
    if served:
        champion = registry.by_alias(settings.mlflow.champion_alias)
        if champion is None or champion.version != candidate.version:
            raise EvaluationError(
                f"version {candidate.version} is a River model that is not the champion: "
                "the online model has no frozen copy to score with, and only the champion's "
                "scores are served"
            )
    else:
        trained = TrainedOn.of(registry.run_params(candidate.run_id or ""))
        warnings += training_warnings(settings, candidate, trained, first, last)
    frame = _labelled(settings, first, last, known_at)
    delay = pd.Timedelta(settings.training.label_delay)
    if last > known_at - delay:
        warnings.append(
            f"the period ends less than the label delay ({delay}) before "
            f"{known_at.isoformat()}: its latest labels are not all known yet"
        )
    result: dict[str, Any] = {
        "model": candidate.label,
        "version": candidate.version,
        "flavor": candidate.flavor,
        "scores": "served" if served else "registered model",
        "start": first.isoformat(),
        "end": last.isoformat(),
        "labels_known_at": known_at.isoformat(),
        "rows": len(frame),
        "frauds": int(frame[LABEL].sum()),
    }
    if served:
        scores = frame["score"].to_numpy(dtype=np.float64)
        counts = frame["model_version"].astype(str).value_counts()
        result["served_by"] = {str(k): int(v) for k, v in counts.items()}
    else:
        scores, missing = _score(settings, candidate, frame)
        if missing:
            warnings.append(f"the archive lacks features {missing}: scored as missing values")
        result["trained_on"] = None if trained is None else trained.as_dict()
    result["measures"] = measure_frame(frame, scores, threshold=settings.scorer.threshold)
    result["warnings"] = warnings
    return result


def training_warnings(
    settings: Settings,
    candidate: Candidate,
    trained: TrainedOn | None,
    first: pd.Timestamp,
    last: pd.Timestamp,
) -> list[str]:
    """Refuse (EvaluationError) a period overlapping the model's training transactions;
    the warnings about a period close to them, before them, or beside an unknown window."""
    if trained is None:
        return [
            f"version {candidate.version}'s run does not say what it was trained on (params "
            "'start' and 'end'): the period may overlap its training data"
        ]
    unseen = trained.unseen_from(settings.training.label_delay)
    began = "?" if trained.start is None else trained.start.isoformat()
    span = f"{began} .. {trained.end.isoformat()}"
    if trained.overlaps(first, last):
        raise EvaluationError(
            f"version {candidate.version} was trained on the transactions of {span} "
            f"(its run's start and end), which the period {first.isoformat()} .. "
            f"{last.isoformat()} overlaps: refused, its measures would be in-sample; "
            f"evaluate from {unseen.isoformat()} on"
        )
    if first < unseen and last > trained.end:
        return [
            f"the period starts before {unseen.isoformat()}, within a label delay of the "
            f"training transactions' end ({trained.end.isoformat()}): labels of its first "
            "transactions may have been known to the model, so its measures may be optimistic"
        ]
    if trained.start is not None and last <= trained.start:
        return [
            f"the period ends before the training transactions ({span}): a backtest with "
            "hindsight, the model learned from later transactions"
        ]
    return []


def _labelled(
    settings: Settings, first: pd.Timestamp, last: pd.Timestamp, known_at: pd.Timestamp
) -> pd.DataFrame:
    """The archived transactions of the period with their latest label known at ``known_at``."""
    root = settings.archive.path
    try:
        frame = build_training_set(root, Window(cutoff=known_at, start=first, end=last))
    except (OSError, pa.ArrowException) as exc:
        raise DataFileError(root, f"archive not readable: {exc}") from exc
    if frame.empty:
        raise EvaluationError(
            f"no labelled transaction between {first.isoformat()} and {last.isoformat()} "
            f"in the archive {root} (nothing served then, or no label known yet)"
        )
    if not frame[LABEL].any():
        raise EvaluationError(
            f"{len(frame):,} labelled transactions between {first.isoformat()} and "
            f"{last.isoformat()}, none a fraud: average precision and recall are undefined"
        )
    return frame


def _score(
    settings: Settings, candidate: Candidate, frame: pd.DataFrame
) -> tuple[np.ndarray, list[str]]:
    """The registered model's scores of the archived features, and the features it
    expects that the archive lacks."""
    model = load_candidate(candidate, settings.mlflow.tracking_uri)
    if model is None:  # a River version: refused before
        raise EvaluationError(f"version {candidate.version} cannot be loaded to score with")
    features = archived_features(frame)
    missing = [name for name in candidate.features if name not in features.columns]
    return np.asarray(model.score(features), dtype=np.float64), missing
