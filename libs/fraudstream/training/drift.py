"""The training reference drift monitoring compares live traffic with.

For each feature, and for the model's score, quantile bin edges over the training
set and the share of training rows in each bin: ``{name: {"edges": [...],
"fractions": [...]}}``. ``fractions[i]`` is the share with ``edges[i] <= value <
edges[i + 1]`` (the last bin includes its upper edge); missing values are left out,
and their share is ``missing``. A live window binned on the same edges gives
comparable fractions (PSI, KL divergence...).

>>> import numpy as np
>>> ref = reference_of(np.array([1.0, 2.0, 3.0, 4.0, np.nan]), bins=2)
>>> ref["edges"], ref["fractions"], ref["missing"]
([1.0, 2.5, 4.0], [0.5, 0.5], 0.2)
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

#: Quantile bins per feature.
BINS: Final = 10

#: The key of the model's score in the reference.
SCORE_KEY: Final = "__score__"


def reference_of(values: np.ndarray, bins: int = BINS) -> dict[str, Any]:
    """Quantile edges (duplicates merged) and the share of values in each bin."""
    values = np.asarray(values, dtype=np.float64)
    present = values[~np.isnan(values)]
    missing = (len(values) - len(present)) / len(values) if len(values) else 0.0
    if len(present) == 0:
        return {"edges": [], "fractions": [], "missing": missing}
    edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, bins + 1)))
    if len(edges) == 1:
        return {"edges": [float(edges[0])] * 2, "fractions": [1.0], "missing": missing}
    counts, _ = np.histogram(present, bins=edges)
    return {
        "edges": [float(e) for e in edges],
        "fractions": [float(c) / len(present) for c in counts],
        "missing": missing,
    }


def drift_reference(x: np.ndarray, names: list[str], scores: np.ndarray) -> dict[str, Any]:
    """The reference of every feature column of ``x`` and of ``scores`` (key
    ``__score__``)."""
    reference = {name: reference_of(x[:, i]) for i, name in enumerate(names)}
    reference[SCORE_KEY] = reference_of(scores)
    return reference
