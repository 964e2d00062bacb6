"""Dataset adapters: files in, a time-ordered stream of (Transaction, Label) out.

Four kinds are known: ``ulb`` (Kaggle/OpenML creditcard.csv), ``sparkov`` (Kaggle
fraudTrain.csv / fraudTest.csv), ``simulated`` (Parquet written by
``fraudstream data generate``) and ``canonical`` (any other Parquet file with the
canonical columns). :func:`load_dataset` picks the adapter from the
file's columns when the kind is not given.
"""

from fraudstream.datasets.base import BadRow, Dataset, DatasetSummary
from fraudstream.datasets.loader import DATASET_KINDS, detect_kind, load_dataset

__all__ = [
    "DATASET_KINDS",
    "BadRow",
    "Dataset",
    "DatasetSummary",
    "detect_kind",
    "load_dataset",
]
