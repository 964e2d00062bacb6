"""The Dockerfile: hadolint clean, multi-stage, dependencies cached before the code,
non-root, a healthcheck, nothing secret in the build context."""

from __future__ import annotations

import re
from pathlib import Path

from fraudstream.deploy import images

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _stages(text: str) -> dict[str, list[str]]:
    """Instruction lines (continuations joined) of each named stage."""
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in re.sub(r"\\\n\s*", " ", text).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            current = stages.setdefault(line.split()[-1], [])
        current.append(line)
    return stages


def test_hadolint_finds_nothing() -> None:
    assert images.check(DOCKERFILE) == []


def test_hadolint_check_reports_findings(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install requests\n")
    problems = images.check(bad)
    assert any("DL3007" in p for p in problems)  # latest tag
    assert any("DL3013" in p for p in problems)  # unpinned pip install


def test_runtime_stage_is_slim_non_root_with_a_healthcheck() -> None:
    stages = _stages(DOCKERFILE.read_text())
    assert list(stages)[-1] == "runtime"  # the default target
    runtime = stages["runtime"]
    assert runtime[0] == "FROM ${PYTHON_IMAGE} AS runtime"
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE.read_text()
    users = [line for line in runtime if line.startswith("USER ")]
    assert users == ["USER 10001:10001"]
    assert any(line.startswith("HEALTHCHECK ") for line in runtime)
    assert 'ENTRYPOINT ["fraudstream"]' in runtime
    assert any(line.startswith("COPY --from=builder /app/.venv") for line in runtime)


def test_dependency_layer_comes_before_the_code() -> None:
    builder = _stages(DOCKERFILE.read_text())["builder"]
    lock = builder.index("COPY pyproject.toml uv.lock ./")
    deps = next(i for i, line in enumerate(builder) if "--no-install-project" in line)
    code = builder.index("COPY libs ./libs")
    assert lock < deps < code
    assert all("--frozen" in line for line in builder if "uv sync" in line)


def test_build_context_admits_no_secrets() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"  # allow-list: .env, .local/, data/ never reach the image
    assert {r for r in rules if r.startswith("!")} == {
        "!pyproject.toml",
        "!uv.lock",
        "!README.md",
        "!libs/",
    }
    assert not re.search(
        r"(?im)^\s*(ENV|ARG)\s+\S*(PASSWORD|SECRET|TOKEN|API_KEY)", DOCKERFILE.read_text()
    )
