"""The DAG files as Airflow loads them: no import errors, no cycles, the agreed shape.

Airflow is not importable in the project environment, so the DAG folder is loaded by
Airflow's own interpreter (``integrity_probe.py``) and checked here.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

RETRAIN_ORDER = ["extract", "validate", "train", "evaluate", "register", "compare", "promote"]
BOOTSTRAP_ORDER = ["load_history", "extract", "validate", "train", "crown"]


@pytest.fixture(scope="module")
def loaded(airflow: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("probe") / "dags.json"
    probe = REPO / "tests/dags/integrity_probe.py"
    result = subprocess.run(
        [str(airflow.python), str(probe), str(REPO / "dags"), str(out)],
        env=airflow.env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def test_no_import_errors(loaded: dict[str, Any]) -> None:
    assert loaded["import_errors"] == {}
    assert set(loaded["dags"]) == {"retrain_challenger", "bootstrap_champion"}


@pytest.mark.parametrize("dag_id", ["retrain_challenger", "bootstrap_champion"])
def test_no_cycles_and_common_defaults(loaded: dict[str, Any], dag_id: str) -> None:
    dag = loaded["dags"][dag_id]
    assert dag["cycle"] is None
    assert dag["tags"] == ["fraudstream", "training"]
    assert dag["catchup"] is False
    assert dag["max_active_runs"] == 1
    for task_id, task in dag["tasks"].items():
        assert task["owner"] == "fraudstream", task_id
        assert task["retries"] >= 1, task_id
        # every task runs in the project's interpreter, never in Airflow's own
        assert task["operator"] == "_PythonExternalDecoratedOperator", task_id
        assert "fraudstream_python" in task["python"], task_id
        assert str(REPO / ".venv/bin/python") in task["python"], task_id


def test_retrain_is_a_daily_chain(loaded: dict[str, Any]) -> None:
    dag = loaded["dags"]["retrain_challenger"]
    assert dag["schedule"] == "@daily"
    assert dag["order"] == RETRAIN_ORDER
    tasks = dag["tasks"]
    for before, after in itertools.pairwise(RETRAIN_ORDER):
        assert tasks[after]["upstream"] == [before]
        assert tasks[before]["downstream"] == [after]


def test_bootstrap_is_manual_with_params(loaded: dict[str, Any]) -> None:
    dag = loaded["dags"]["bootstrap_champion"]
    assert dag["schedule"] is None
    assert dag["params"] == ["dataset", "days", "until"]
    assert dag["order"] == BOOTSTRAP_ORDER
    for before, after in itertools.pairwise(BOOTSTRAP_ORDER):
        assert dag["tasks"][after]["upstream"] == [before]
