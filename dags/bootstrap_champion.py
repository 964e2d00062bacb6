"""The first champion, from a historical dataset: docs/orchestration.md.

Run once, by hand, before ``retrain_challenger`` has anything to compare against:
train on the dataset named by the ``dataset`` parameter up to ``until`` and register
the model as ``champion``. Where a champion exists already it is kept (the run
succeeds and says so), so triggering this twice changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Param, dag
from fraudstream_defaults import DEFAULT_ARGS, TAGS, project_task


@dag(
    dag_id="bootstrap_champion",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=TAGS,
    doc_md=__doc__,
    params={
        "dataset": Param(
            "",
            type="string",
            description="Historical dataset (archive folder or URL); empty: ARCHIVE_PATH.",
        ),
        "until": Param(
            "",
            type="string",
            description="Train on data before this ISO date; empty: the run's date.",
        ),
    },
)
def bootstrap_champion() -> None:
    """Extract, validate and train on history, then register the result as champion."""

    @project_task
    def extract(dataset: str, until: str) -> dict[str, Any]:
        """Training set from the historical dataset, labels known before ``until``."""
        from fraudstream.orchestration import tasks

        return tasks.extract(until, dataset=dataset or None)

    @project_task
    def validate(extracted: dict[str, Any]) -> dict[str, Any]:
        """The same checks as the daily retraining."""
        from fraudstream.orchestration import tasks

        return tasks.validate(extracted)

    @project_task
    def train(validated: dict[str, Any]) -> dict[str, Any]:
        """XGBoost with time-ordered cross-validation, logged to MLflow."""
        from fraudstream.orchestration import tasks

        return tasks.train(validated)

    @project_task
    def crown(trained: dict[str, Any]) -> dict[str, Any]:
        """Register the model and alias it ``champion`` unless a champion exists."""
        from fraudstream.orchestration import tasks

        return tasks.bootstrap(trained)

    until = "{{ params.until or (logical_date or dag_run.run_after).isoformat() }}"
    crown(train(validate(extract("{{ params.dataset }}", until))))


bootstrap_champion()
