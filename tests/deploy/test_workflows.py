"""The GitHub workflows pass actionlint and do what the project's CI/CD needs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fraudstream.deploy import workflows
from fraudstream.deploy.tools import find_tool

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github/workflows"


def _load(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return data


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])


def test_actionlint_finds_nothing() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"ci.yml", "deploy.yml"}
    assert workflows.check(files, ROOT) == []


def test_actionlint_check_reports_findings(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.nope }}\n      - uses: actions/checkout\n"
    )
    problems = workflows.check([bad], ROOT)
    assert len(problems) >= 2
    assert any("nope" in p for p in problems)


def test_ci_lints_types_tests_audits_and_builds_images() -> None:
    ci = _load("ci.yml")
    jobs = ci["jobs"]
    everything = "\n".join(_runs(job) for job in jobs.values())
    for needed in (
        "make lint",  # the pre-commit hooks: ruff, import contracts, whitespace, ...
        "mypy",
        "make validate-deploy",
        'pytest -m "not integration"',
        "pytest -m integration",
        "make audit",
        "docker/build-push-action",
    ):
        assert needed in everything, needed
    # the fixtures start Kafka, Redis and MLflow in containers where no address is set
    integration = jobs["integration"]
    assert "services" not in integration
    assert not {"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "MLFLOW_TRACKING_URI"} & set(
        integration.get("env", {})
    )


def test_deploy_pushes_to_ghcr_and_applies_kustomize_on_tags() -> None:
    deploy = _load("deploy.yml")
    assert deploy[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True
    images, cluster = deploy["jobs"]["images"], deploy["jobs"]["kubernetes"]
    assert images["permissions"]["packages"] == "write"
    assert "ghcr.io" in deploy["env"]["REGISTRY"]
    assert cluster["needs"] == "images"
    steps = _runs(cluster)
    assert "secrets.KUBE_CONFIG" in (WORKFLOWS / "deploy.yml").read_text()
    assert "kustomize build" in steps
    assert "kubectl apply" in steps


@pytest.mark.parametrize(
    ("overlay", "scorer"),
    [("example", "deployment/scorer"), ("scorers-statefulset", "statefulset/scorer")],
)
def test_deploy_waits_for_the_workloads_the_overlay_renders(
    overlay: str, scorer: str, tmp_path: Path
) -> None:
    step = next(
        s
        for s in _load("deploy.yml")["jobs"]["kubernetes"]["steps"]
        if s.get("name") == "Wait for the rollouts"
    )
    (tmp_path / "manifests.yaml").write_text(
        subprocess.run(
            [
                str(find_tool("kustomize", ROOT)),
                "build",
                str(ROOT / "infra/k8s/overlays" / overlay),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    fake = tmp_path / "bin/kubectl"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "$@" >> "$RUNNER_TEMP/kubectl.log"\n')
    fake.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path),
        "NAMESPACE": "fraudstream",
    }
    subprocess.run(["bash", "-euo", "pipefail", "-c", step["run"]], check=True, env=env)
    waited = (tmp_path / "kubectl.log").read_text().splitlines()
    workloads = ["deployment/api", "deployment/archiver", "deployment/console"]
    workloads += ["deployment/learner", scorer]
    assert sorted(waited) == sorted(
        f"rollout status -n fraudstream {w} --timeout=600s" for w in workloads
    )
