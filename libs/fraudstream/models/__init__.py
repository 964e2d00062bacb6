"""Models: what every model is, the cold-start, River and XGBoost wrappers, snapshots.

The scorer, the API, the learner, the registry and the offline tools all use these;
none of them owns them. :mod:`fraudstream.models.xgb` (XGBoost) and
:mod:`fraudstream.models.snapshots` (Redis) are imported by their own paths, so
importing this package loads neither.
"""

from fraudstream.models.base import TOP_REASONS, Features, ModelInput, ScoringModel, column
from fraudstream.models.cold_start import ColdStartModel
from fraudstream.models.river import RiverModel

__all__ = [
    "TOP_REASONS",
    "ColdStartModel",
    "Features",
    "ModelInput",
    "RiverModel",
    "ScoringModel",
    "column",
]
