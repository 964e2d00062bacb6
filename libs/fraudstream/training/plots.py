"""The plots logged with a training run, as PNG files (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pr_curve_plot(y: np.ndarray, scores: dict[str, np.ndarray], path: Path) -> None:
    """Precision-recall curves of each model on the same test set."""
    from sklearn.metrics import precision_recall_curve

    from fraudstream.evaluation.measures import average_precision

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 5))
    for name, s in scores.items():
        precision, recall, _ = precision_recall_curve(y, s)
        axes.plot(recall, precision, label=f"{name} (AP {average_precision(y, s):.3f})")
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title("Precision-recall, last time-ordered fold")
    axes.legend(loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def importance_plot(gain: dict[str, float], path: Path) -> None:
    """XGBoost gain per feature, largest on top."""
    plt = _pyplot()
    ranked = sorted(gain.items(), key=lambda item: item[1])
    figure, axes = plt.subplots(figsize=(7, max(3.0, 0.3 * len(ranked))))
    axes.barh([n for n, _ in ranked], [v for _, v in ranked])
    axes.set_xlabel("total gain")
    axes.set_title("XGBoost feature importance")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def calibration_plot(y: np.ndarray, scores: np.ndarray, path: Path, bins: int = 10) -> None:
    """Mean predicted probability against the observed fraud rate, per score bin."""
    from sklearn.calibration import calibration_curve

    plt = _pyplot()
    observed, predicted = calibration_curve(y, scores, n_bins=bins, strategy="quantile")
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    axes.plot(predicted, observed, marker="o", label="xgboost")
    axes.set_xlabel("mean predicted probability")
    axes.set_ylabel("observed fraud rate")
    axes.set_title("Calibration, last time-ordered fold")
    axes.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
