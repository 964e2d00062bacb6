"""Fixtures of the fault tests (``settings`` and ``scorer_processes`` are in
tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.datasets.simulator import SimulatorConfig, simulate


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated month (~116,000 transactions, ~2% fraud) as canonical Parquet."""
    path = tmp_path_factory.mktemp("faults") / "simulated.parquet"
    write_parquet_atomic(simulate(SimulatorConfig(customers=2_000, terminals=4_000, days=30)), path)
    return path
