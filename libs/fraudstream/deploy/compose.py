"""Offline checks of a Compose file: the Compose specification schema, settings
names, mounted paths, and the start-up order its depends_on conditions imply."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from fraudstream.deploy.settings import unknown_settings
from fraudstream.deploy.tools import run_tool, venv_tool

#: Build targets of the Dockerfile whose containers run fraudstream code (and so read
#: its settings); other services (Kafka, Postgres, MLflow, ...) have their own names.
FRAUDSTREAM_TARGETS = frozenset({"runtime", "airflow"})

_DEFAULTED = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}")
_PLAIN = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")
_FOREVER = frozenset({"always", "unless-stopped"})


def load(path: Path) -> dict[str, Any]:
    """The Compose file as data, anchors and merge keys resolved."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise ValueError(f"{path}: not a Compose file (no services mapping)")
    return data


def schema_problems(path: Path) -> list[str]:
    """Problems check-jsonschema finds against its vendored Compose specification."""
    exe = venv_tool("check-jsonschema")
    args = [str(exe), "--builtin-schema", "vendor.compose-spec", str(path)]
    code, output = run_tool(args, cwd=path.parent)
    return [] if code == 0 else [f"{path.name}: Compose schema: {output}"]


def _environment(service: dict[str, Any]) -> list[str]:
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return [str(key) for key in env]
    return [str(item).split("=", 1)[0] for item in env]


def runs_fraudstream(service: dict[str, Any]) -> bool:
    """True for services built from the Dockerfile's fraudstream targets."""
    build = service.get("build")
    if not isinstance(build, dict):
        return False
    return str(build.get("target", "runtime")) in FRAUDSTREAM_TARGETS


def settings_problems(compose: dict[str, Any]) -> list[str]:
    """Environment names of fraudstream services that look like settings but are none."""
    problems = []
    for name, service in compose["services"].items():
        if runs_fraudstream(service):
            for env in unknown_settings(_environment(service)):
                problems.append(
                    f"service {name}: environment {env} is not a fraudstream setting "
                    "(fraudstream.config; .env.example lists them all)"
                )
    return problems


def _interpolate(text: str) -> str:
    return _PLAIN.sub("", _DEFAULTED.sub(r"\1", text))


def _bind_sources(service: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """(source, is_bind) of each volume entry."""
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            source = str(volume.get("source", ""))
            yield source, volume.get("type") == "bind"
        else:
            source = _interpolate(str(volume)).split(":", 1)[0]
            yield source, source.startswith((".", "/", "~"))


def mount_problems(compose: dict[str, Any], root: Path) -> list[str]:
    """Bind mounts, env files and build contexts that do not exist in the repo at
    ``root``, and named volumes that are not declared."""
    problems = []
    declared = set(compose.get("volumes") or {})
    resolved_root = root.resolve()
    for name, service in compose["services"].items():
        for source, is_bind in _bind_sources(service):
            if not source:
                continue
            if not is_bind:
                if source not in declared:
                    problems.append(f"service {name}: volume {source!r} is not declared")
                continue
            path = (root / _interpolate(source)).resolve()
            if not path.is_relative_to(resolved_root):
                problems.append(f"service {name}: mount {source} is outside the repository")
            elif not path.exists():
                problems.append(f"service {name}: mounted path {source} does not exist")
        for env_file in _env_files(service):
            if not (root / env_file).exists():
                problems.append(f"service {name}: env_file {env_file} does not exist")
        build = service.get("build")
        if build is not None:
            context = build if isinstance(build, str) else str(build.get("context", "."))
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile")
            if not (root / context / str(dockerfile or "Dockerfile")).is_file():
                problems.append(f"service {name}: no Dockerfile in build context {context}")
    return problems


def _env_files(service: dict[str, Any]) -> Iterator[str]:
    """The env files a service requires (``required: false`` ones may be absent)."""
    entries = service.get("env_file") or []
    for entry in [entries] if isinstance(entries, str | dict) else entries:
        if isinstance(entry, str):
            yield entry
        elif entry.get("required", True):
            yield str(entry["path"])


def order_problems(compose: dict[str, Any]) -> list[str]:
    """depends_on that cannot work: unknown services, waiting for the health of a
    service without a healthcheck, for the completion of one that restarts forever,
    or on a service behind a profile the dependent does not share."""
    services: dict[str, Any] = compose["services"]
    problems = []
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        conditions = (
            dict.fromkeys(depends, "service_started")
            if isinstance(depends, list)
            else {
                dep: (spec or {}).get("condition", "service_started")
                for dep, spec in depends.items()
            }
        )
        for dep, condition in conditions.items():
            target = services.get(dep)
            if target is None:
                problems.append(f"service {name}: depends on unknown service {dep}")
                continue
            health = target.get("healthcheck") or {}
            if condition == "service_healthy" and (not health or health.get("disable")):
                problems.append(
                    f"service {name}: waits for {dep} to be healthy, which has no healthcheck"
                )
            restart = str(target.get("restart", "no"))
            if condition == "service_completed_successfully" and restart in _FOREVER:
                problems.append(
                    f"service {name}: waits for {dep} to complete, but {dep} restarts forever"
                )
            theirs = set(target.get("profiles") or [])
            if theirs and not theirs & set(service.get("profiles") or []):
                problems.append(
                    f"service {name}: depends on {dep}, "
                    f"which only runs with profile(s) {sorted(theirs)}"
                )
    return problems


def check(path: Path, root: Path) -> list[str]:
    """Every Compose problem of the file at ``path``, mounts resolved against ``root``."""
    if not path.is_file():
        return [f"{path.name} does not exist"]
    compose = load(path)
    return (
        schema_problems(path)
        + settings_problems(compose)
        + mount_problems(compose, root)
        + order_problems(compose)
    )
