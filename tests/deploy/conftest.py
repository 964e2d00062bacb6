"""Offline checks of the deployment files (no Docker engine, no cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def root() -> Path:
    """The repository checkout under test."""
    return ROOT
