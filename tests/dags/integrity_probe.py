"""Load the DAG folder with Airflow and print what the integrity tests check, as JSON.

Run by the Airflow environment's python (``infra/airflow/.venv``), not by pytest: the
project environment has no Airflow. ``python integrity_probe.py DAGS_FOLDER OUT_JSON``
(a file: Airflow logs to stdout).
"""

from __future__ import annotations

import json
import sys
from typing import Any


def describe(dags_folder: str) -> dict[str, Any]:
    """Import errors, and per DAG its schedule, tags, cycle check and tasks."""
    from pathlib import Path

    from airflow.dag_processing.dagbag import BundleDagBag

    # As the dag processor loads a bundle: its folder is on sys.path
    bag = BundleDagBag(dags_folder, bundle_path=Path(dags_folder), bundle_name="dags-folder")
    dags: dict[str, Any] = {}
    for dag_id, dag in bag.dags.items():
        try:
            dag.check_cycle()
            cycle = None
        except Exception as exc:  # reported to the test, which fails on it
            cycle = str(exc)
        dags[dag_id] = {
            "fileloc": dag.fileloc,
            "schedule": None if dag.schedule is None else str(dag.schedule),
            "timetable": type(dag.timetable).__name__,
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "tags": sorted(dag.tags),
            "cycle": cycle,
            "params": sorted(dag.params.keys()),
            "tasks": {
                task.task_id: {
                    "owner": task.owner,
                    "retries": task.retries,
                    "operator": type(task).__name__,
                    "python": getattr(task, "python", None),
                    "upstream": sorted(task.upstream_task_ids),
                    "downstream": sorted(task.downstream_task_ids),
                }
                for task in dag.tasks
            },
            "order": [task.task_id for task in dag.topological_sort()],
        }
    return {"import_errors": dict(bag.import_errors), "dags": dags}


if __name__ == "__main__":
    with open(sys.argv[2], "w") as out:
        json.dump(describe(sys.argv[1]), out)
