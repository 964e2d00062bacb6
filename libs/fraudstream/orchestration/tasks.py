"""The steps of the retraining DAGs, one function per Airflow task.

Each step runs in a fresh process of the project's environment
(``@task.external_python``), so it builds its settings from the environment itself,
takes and returns only JSON-able dicts (they travel pickled and are kept as XComs), and
does its heavy imports inside. Every step is idempotent for a given cutoff: the
training set of a cutoff always lands in the same folder, and registering or promoting
the same run again changes nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fraudstream.config import Settings
from fraudstream.logs import configure_logging

Result = dict[str, Any]


def load_settings() -> Settings:
    """The settings of this task's process, with logging configured from them."""
    settings = Settings.load()
    configure_logging(settings.log_level, json=settings.log_json)
    return settings


def run_folder(settings: Settings, cutoff: str) -> Path:
    """Where the training set for ``cutoff`` goes: one folder per cutoff, reused on re-runs.

    >>> from fraudstream.config import Settings
    >>> run_folder(Settings.load(FRAUDSTREAM_DATA_DIR="data"), "2026-01-10T00:00:00+00:00")
    PosixPath('data/training/2026-01-10T000000+0000')
    """
    return settings.data.dir / "training" / re.sub(r"[^0-9A-Za-z+\-T]", "", cutoff)
