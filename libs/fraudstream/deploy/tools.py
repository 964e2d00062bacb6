"""Finding and running the external linters the deployment checks use."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from fraudstream.errors import FraudstreamError


class ToolMissingError(FraudstreamError):
    """A linter the checks need is not installed."""

    exit_code = 69


#: Where ``make deploy-tools`` installs the Go-built linters (below the repo root).
TOOLS_DIR = Path(".local/bin")


def find_tool(name: str, root: Path) -> Path:
    """The executable ``name``: ``$<NAME>`` if set, else ``.local/bin`` below ``root``
    or the current folder, else PATH.

    Raises :class:`ToolMissingError` saying how to install it.
    """
    override = os.environ.get(name.upper().replace("-", "_"))
    if override:
        return Path(override)
    for base in (root, Path.cwd()):
        local = base / TOOLS_DIR / name
        if local.is_file() and os.access(local, os.X_OK):
            return local
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ToolMissingError(f"{name} is not installed: run `make deploy-tools`")


def run_tool(args: list[str], cwd: Path, timeout_s: float = 120.0) -> tuple[int, str]:
    """Run a linter; its exit code and its output (stdout then stderr), stripped."""
    try:
        done = subprocess.run(
            args, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        return 124, f"{args[0]} did not finish in {timeout_s:.0f} s: {exc}"
    except OSError as exc:
        raise ToolMissingError(f"cannot run {args[0]}: {exc}") from exc
    return done.returncode, (done.stdout + done.stderr).strip()


def venv_tool(name: str) -> Path:
    """A console script installed next to this interpreter (hadolint, check-jsonschema)."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file():
        return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ToolMissingError(f"{name} is not installed: run `make install`")
