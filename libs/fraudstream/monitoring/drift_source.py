"""Where a drift reference comes from: served rows in Parquet, a dataset, or the simulator.

- Parquet of served rows (an archive of ``transactions.scored`` flattened, or the
  training helper's frame): it already has the online feature columns, and a ``score``
  column gives the score its reference too;
- any dataset ``fraudstream data`` reads: the online features are computed the way the
  scorer serves them (:func:`~fraudstream.features.served.served_features`),
  plus ``amount`` and the dataset's own feature columns;
- ``simulated``: the built-in simulator's first ``days`` days, then as a dataset.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd

from fraudstream.datasets import load_dataset
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.errors import DataFileError
from fraudstream.evaluation.drift import reference_columns
from fraudstream.features.definitions import FEATURE_NAMES
from fraudstream.features.served import model_inputs, served_features

SIMULATED = "simulated"


def reference_frame(
    source: str, *, days: int, label_delay: timedelta, seed: int = 42
) -> pd.DataFrame:
    """The model inputs (and scores, when known) a reference is built from."""
    if source == SIMULATED:
        return served_features(simulate(SimulatorConfig(days=days, seed=seed)), label_delay)
    path = Path(source)
    if not path.exists():
        raise DataFileError(path, f"not found (expected a file or {SIMULATED!r})")
    if path.suffix == ".parquet" or path.is_dir():
        frame = pd.read_parquet(path)
        if set(FEATURE_NAMES) <= set(frame.columns):
            return frame[reference_columns(frame)]
    dataset = load_dataset(path)
    return model_inputs(dataset.frame, label_delay, dataset.feature_columns)
