"""Daily retraining of the batch challenger: docs/orchestration.md.

extract -> validate -> train -> evaluate -> register -> compare -> promote. Each task
is a few lines that call ``fraudstream`` in the project's environment
(``@task.external_python``); heavy imports happen inside the tasks, so parsing this
file imports nothing but Airflow. The run's cutoff is its data interval's end: a
re-run of the same interval extracts the same rows into the same folder and trains on
them again, so every task can be retried or cleared safely.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import dag, task
from fraudstream_shared import DEFAULT_ARGS, IN_PROJECT_ENV, TAGS, train, validate

#: The data interval's end; manual runs without a logical date fall back to run_after.
CUTOFF = "{{ (data_interval_end or dag_run.run_after).isoformat() }}"


@dag(
    dag_id="retrain_challenger",
    schedule="@daily",
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=TAGS,
    doc_md=__doc__,
)
def retrain_challenger() -> None:
    """Build the day's training set, train, register the challenger, maybe promote it."""

    @task.external_python(**IN_PROJECT_ENV)
    def extract(cutoff: str) -> dict[str, Any]:
        """Training set from the archive: features as served, labels known at the cutoff,
        ending where the window the challenger is judged on starts."""
        from fraudstream.orchestration import tasks

        return tasks.extract_challenger(cutoff)

    @task.external_python(**IN_PROJECT_ENV)
    def evaluate(trained: dict[str, Any]) -> dict[str, Any]:
        """The run's metrics, read back from MLflow; missing ones fail the run."""
        from fraudstream.orchestration import tasks

        return tasks.evaluate(trained)

    @task.external_python(**IN_PROJECT_ENV)
    def register(evaluated: dict[str, Any]) -> dict[str, Any]:
        """A new registry version aliased ``challenger`` (reused on a re-run)."""
        from fraudstream.orchestration import tasks

        return tasks.register(evaluated)

    @task.external_python(**IN_PROJECT_ENV)
    def compare(registered: dict[str, Any]) -> dict[str, Any]:
        """Champion (served scores) and challenger on the latest labelled window; the
        challenger becomes champion when it wins by the margin."""
        from fraudstream.orchestration import tasks

        return tasks.compare(registered)

    @task.external_python(**IN_PROJECT_ENV)
    def promote(decision: dict[str, Any]) -> dict[str, Any]:
        """Record the decision on the challenger; check ``champion`` agrees with it."""
        from fraudstream.orchestration import tasks

        return tasks.promote(decision)

    promote(compare(register(evaluate(train(validate(extract(CUTOFF)))))))


retrain_challenger()
