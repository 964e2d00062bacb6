"""Every offline deployment check of a checkout, by file."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from fraudstream.deploy import compose, images, kubernetes, workflows

#: The kustomizations checked: the base and every overlay.
KUSTOMIZE_DIRS = ("infra/k8s/base", "infra/k8s/overlays/*")


def _kustomize_dirs(root: Path) -> list[Path]:
    found: list[Path] = []
    for pattern in KUSTOMIZE_DIRS:
        found += sorted(p for p in root.glob(pattern) if p.is_dir())
    return found


def all_checks(root: Path) -> dict[str, Callable[[], list[str]]]:
    """Name -> check (returning its problems) for the repository at ``root``."""
    checks: dict[str, Callable[[], list[str]]] = {
        "Dockerfile (hadolint)": lambda: images.check(root / "Dockerfile"),
        "docker-compose.yml": lambda: compose.check(root / "docker-compose.yml", root),
        "GitHub workflows (actionlint)": lambda: workflows.check(
            sorted((root / ".github/workflows").glob("*.y*ml")), root
        ),
    }
    for directory in _kustomize_dirs(root):
        label = str(directory.relative_to(root))
        checks[f"{label} (kustomize)"] = partial(kubernetes.check, directory, root)
    return checks
