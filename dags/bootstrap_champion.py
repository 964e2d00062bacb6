"""The first champion, from a historical dataset: docs/orchestration.md.

Run once, by hand, before ``retrain_challenger`` has anything to compare against: write
the dataset named by the ``dataset`` parameter (or ``days`` of simulated data) into the
archive as the scorer would have served it, train on what was known before ``until``
and register the model as ``champion``. Where a champion exists already it is kept (the
run succeeds and says so), so triggering this twice changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Param, dag, task
from fraudstream_shared import DEFAULT_ARGS, IN_PROJECT_ENV, TAGS, train, validate


@dag(
    dag_id="bootstrap_champion",
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=TAGS,
    doc_md=__doc__,
    params={
        "dataset": Param(
            "",
            type="string",
            description="Historical dataset file (ULB, Sparkov, simulated); empty: simulate.",
        ),
        "days": Param(60, type="integer", minimum=1, description="Days to simulate."),
        "until": Param(
            "",
            type="string",
            description="Train on what was known before this ISO date; empty: all of it.",
        ),
    },
)
def bootstrap_champion() -> None:
    """Archive the history, train on it, register the result as champion."""

    @task.external_python(**IN_PROJECT_ENV)
    def load_history(dataset: str, days: int, until: str) -> dict[str, Any]:
        """The dataset into the archive, as served; the cutoff (``until`` or its end)."""
        from fraudstream.orchestration import tasks

        return tasks.load_history(dataset or None, days=int(days), until=until or None)

    @task.external_python(**IN_PROJECT_ENV)
    def extract(history: dict[str, Any]) -> dict[str, Any]:
        """Training set from the archive, labels known at the cutoff."""
        from fraudstream.orchestration import tasks

        return tasks.extract(history["cutoff"])

    @task.external_python(**IN_PROJECT_ENV)
    def crown(trained: dict[str, Any]) -> dict[str, Any]:
        """Register the model and alias it ``champion`` unless a champion exists."""
        from fraudstream.orchestration import tasks

        return tasks.bootstrap(trained)

    history = load_history("{{ params.dataset }}", "{{ params.days }}", "{{ params.until }}")
    crown(train(validate(extract(history))))


bootstrap_champion()
