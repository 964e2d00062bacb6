"""What the fraudstream DAGs share: owner, retries, tags, where tasks run, two tasks.

Airflow runs from its own environment (infra/airflow/.venv) and the tasks run in the
project's (.venv) through ``@task.external_python``, so neither environment's pins
constrain the other. The interpreter is, in this order: the Airflow Variable
``fraudstream_python``, the environment variable ``FRAUDSTREAM_PYTHON``, this
checkout's ``.venv/bin/python``. Settings (``MLFLOW_TRACKING_URI``, ``ARCHIVE_PATH``,
...) reach the tasks through the environment Airflow runs in.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from airflow.sdk import task

REPO: Final = Path(__file__).resolve().parents[1]
DEFAULT_PYTHON: Final = os.environ.get("FRAUDSTREAM_PYTHON") or str(REPO / ".venv/bin/python")
#: A template (``python`` is a templated field): resolved when each task runs.
PROJECT_PYTHON: Final = "{{ var.value.get('fraudstream_python', '" + DEFAULT_PYTHON + "') }}"

DEFAULT_ARGS: Final[dict[str, Any]] = {
    "owner": "fraudstream",
    # FRAUDSTREAM_TASK_RETRIES=0 in tests: `airflow dags test` sits out every retry delay
    "retries": int(os.environ.get("FRAUDSTREAM_TASK_RETRIES", "1")),
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(hours=1),
}
TAGS: Final = ["fraudstream", "training"]

#: ``@task.external_python(**IN_PROJECT_ENV)``: run in the project's environment, where
#: Airflow is not installed. (Spelled out at each task: Airflow strips only its own
#: decorators from the source it runs there.)
IN_PROJECT_ENV: Final[dict[str, Any]] = {"python": PROJECT_PYTHON, "expect_airflow": False}


@task.external_python(**IN_PROJECT_ENV)
def validate(extracted: dict[str, Any]) -> dict[str, Any]:
    """Schema, null rates, fraud-rate bounds, time order; a failed check fails the run."""
    from fraudstream.orchestration import tasks

    return tasks.validate(extracted)


@task.external_python(**IN_PROJECT_ENV)
def train(validated: dict[str, Any]) -> dict[str, Any]:
    """XGBoost with time-ordered cross-validation (and the comparison models), in MLflow."""
    from fraudstream.orchestration import tasks

    return tasks.train(validated)
