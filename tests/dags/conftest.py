"""Airflow's own environment, as the DAG tests use it.

Airflow lives in ``infra/airflow/.venv`` (``make airflow-install``), not in the project
environment pytest runs in, so these tests drive it as a user would: through
``infra/airflow/airflow.sh``, with an ``AIRFLOW_HOME`` of their own.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Airflow:
    """The Airflow installation and the environment its commands run with."""

    repo: Path
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.repo / "infra/airflow/.venv/bin/python"

    def run(self, *args: str, timeout: float, **env: str) -> subprocess.CompletedProcess[str]:
        """``airflow ARGS`` through airflow.sh (which migrates the database once).

        Airflow and the task processes it starts share a new process group, which is
        killed whole when ``timeout`` passes.
        """
        command = ["bash", str(self.repo / "infra/airflow/airflow.sh"), "run", *args]
        with subprocess.Popen(
            command,
            env={**self.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        ) as process:
            try:
                output, _ = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                output, _ = process.communicate()
                pytest.fail(f"airflow {' '.join(args)} ran over {timeout} s:\n{output[-5000:]}")
        return subprocess.CompletedProcess(command, process.returncode, output, "")


def airflow_environment(home: Path, **extra: str) -> dict[str, str]:
    """``os.environ`` and ``extra``, plus the settings ``airflow.sh env`` exports."""
    env = {**os.environ, **extra, "AIRFLOW_HOME": str(home)}
    out = subprocess.run(
        ["bash", str(REPO / "infra/airflow/airflow.sh"), "env"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in out.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0] if value else ""
    return env


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Airflow:
    """Airflow with a fresh AIRFLOW_HOME; fails (never skips) when it is not installed."""
    found = Airflow(REPO, airflow_environment(tmp_path_factory.mktemp("airflow-home")))
    if not found.python.is_file():
        pytest.fail(
            f"Airflow's environment is missing ({found.python}): run `make airflow-install`",
            pytrace=False,
        )
    return found
