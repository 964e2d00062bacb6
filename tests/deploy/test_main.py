"""``python -m fraudstream.deploy``: one line per check, exit 1 when any fails."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fraudstream.deploy.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def test_reports_each_failing_check_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    (tmp_path / "docker-compose.yml").write_text("services:\n  a:\n    image: x\n    ports: 5\n")
    shutil.copytree(ROOT / "infra/k8s", tmp_path / "infra/k8s")
    (tmp_path / "infra/k8s/base/scorer-pdb.yaml").unlink()
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "ok   Dockerfile (hadolint)" in out
    assert "FAIL docker-compose.yml" in out
    assert "FAIL GitHub workflows (actionlint)" in out
    assert "       no workflow files to lint" in out
    assert "FAIL infra/k8s/base (kustomize)" in out
    assert any(line.endswith("scorer-pdb.yaml does not exist") for line in out)
    # every kustomization builds on the base, so each overlay fails with it
    overlays = sum(1 for p in (ROOT / "infra/k8s/overlays").iterdir() if p.is_dir())
    assert out[-1] == f"{3 + overlays} of {4 + overlays} deployment checks failed"


def test_a_missing_tool_is_a_failed_check_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(ROOT / ".github", tmp_path / ".github")
    monkeypatch.setenv("ACTIONLINT", str(tmp_path / "no-such-actionlint"))
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL GitHub workflows (actionlint)" in out
    assert "cannot run" in out
