"""The GitHub Actions workflows, linted with actionlint (built from the Go proxy by
``make deploy-tools``; it also runs shellcheck on ``run:`` steps when installed)."""

from __future__ import annotations

from pathlib import Path

from fraudstream.deploy.tools import find_tool, run_tool


def check(workflows: list[Path], root: Path) -> list[str]:
    """actionlint's findings over ``workflows``, one per line."""
    if not workflows:
        return ["no workflow files to lint"]
    args = [str(find_tool("actionlint", root)), "-no-color", *map(str, workflows)]
    code, output = run_tool(args, root)
    return [] if code == 0 else [f"actionlint: {line}" for line in output.splitlines() if line]
