"""The shell blocks marked runnable in README.md and docs/*.md run as written.

A block is runnable when the line before its ```bash (or ```sh) fence is
``<!-- runnable -->``, optionally with a time limit: ``<!-- runnable timeout=300 -->``
(seconds, default 120). The blocks of one file run in order, each in a fresh
``bash -euo pipefail`` from the repository root, with the suite's service addresses
and topics, feature-store keys and MLflow experiment of their own. A block fails the
test with its text and output when it exits non-zero or outlives its limit; whatever it
left running is stopped. docs/development.md documents the marker.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from fraudstream.config import Settings
from fraudstream.harness.kafka import unique_topics

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT_S = 120
MARKER = re.compile(r"^<!--\s*runnable(?:\s+timeout=(?P<timeout>\d+))?\s*-->$")
FENCE = re.compile(r"^```(?:bash|sh|shell)\s*$")
#: Output kept in a failure message (its end, where the error is).
OUTPUT_TAIL = 6_000


@dataclass(frozen=True)
class Block:
    """One runnable shell block: where it is, what it runs, how long it may take."""

    path: Path
    line: int  # of the opening fence, 1-based
    script: str
    timeout_s: int


def runnable_blocks(path: Path) -> list[Block]:
    """The runnable blocks of a Markdown file, in order.

    A marker must be followed by a bash fence; a marker that is not, or a block that is
    never closed, is an error (a typo must not silently skip a block). Markers inside
    other fenced blocks (examples of the marker itself) are text, not markers.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        marker = MARKER.match(line)
        if marker is None:
            index = _after_fence(lines, index, path) if line.startswith("```") else index + 1
            continue
        index += 1
        if index >= len(lines) or not FENCE.match(lines[index].strip()):
            raise ValueError(f"{path}:{index}: a runnable marker must precede a ```bash fence")
        end = _after_fence(lines, index, path)
        timeout = int(marker.group("timeout") or DEFAULT_TIMEOUT_S)
        script = "\n".join(lines[index + 1 : end - 1]) + "\n"
        blocks.append(Block(path, index + 1, script, timeout))
        index = end
    return blocks


def _after_fence(lines: list[str], start: int, path: Path) -> int:
    """Index of the line after the block whose opening fence is ``lines[start]``."""
    ticks = len(lines[start].strip()) - len(lines[start].strip().lstrip("`"))
    for index in range(start + 1, len(lines)):
        line = lines[index].strip()
        if line.startswith("`" * ticks) and not line.strip("`"):
            return index + 1
    raise ValueError(f"{path}:{start + 1}: the fenced block is never closed")


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _run(block: Block, env: dict[str, str]) -> tuple[int | None, str]:
    """Run a block; return its exit code (None when it timed out) and its output.

    It runs in its own process group, and the group is stopped afterwards, so nothing
    it started in the background outlives it.
    """
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", block.script],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=block.timeout_s)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        _stop_group(process.pid)
        output, _ = process.communicate()
        code = None
    finally:
        _stop_group(process.pid)
    return code, output


def _stop_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _failure(block: Block, code: int | None, output: str) -> str:
    where = f"{block.path.relative_to(ROOT)}:{block.line}"
    what = f"timed out after {block.timeout_s} s" if code is None else f"exited {code}"
    return (
        f"runnable block at {where} {what}\n--- block\n{block.script}--- output\n"
        + (output[-OUTPUT_TAIL:])
    )


def _cases() -> list[object]:
    cases: list[object] = []
    for path in documents():
        blocks = runnable_blocks(path)
        if blocks:
            total = sum(b.timeout_s for b in blocks) + 60
            cases.append(
                pytest.param(
                    blocks,
                    id=str(path.relative_to(ROOT)),
                    marks=pytest.mark.timeout(total),
                )
            )
    return cases


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("blocks", _cases())
def test_runnable_blocks_run_as_written(
    blocks: list[Block], kafka_bootstrap: str, redis_url: str, mlflow_uri: str
) -> None:
    run = uuid.uuid4().hex[:10]
    kafka = unique_topics(Settings.load(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap), "docs").kafka
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "REDIS_URL": redis_url,
        "MLFLOW_TRACKING_URI": mlflow_uri,
        "KAFKA_TRANSACTIONS_TOPIC": kafka.transactions_topic,
        "KAFKA_LABELS_TOPIC": kafka.labels_topic,
        "KAFKA_ALERTS_TOPIC": kafka.alerts_topic,
        "KAFKA_SCORED_TOPIC": kafka.scored_topic,
        "KAFKA_DLQ_TOPIC": kafka.dlq_topic,
        "FEATURES_KEY_PREFIX": f"docs-{run}",
        "MLFLOW_EXPERIMENT_NAME": f"docs-{run}",
        "MLFLOW_ONLINE_EXPERIMENT_NAME": f"docs-{run}-online",
        "MLFLOW_REGISTERED_MODEL_NAME": f"docs-{run}",
        "KAFKA_MODEL_EVENTS_TOPIC": kafka.model_events_topic,
        "ARCHIVE_PATH": f".local/docs/{run}/archive",
    }
    assert shutil.which("uv", path=env.get("PATH")), "uv is not on PATH: the docs run `uv run`"
    for block in blocks:
        code, output = _run(block, env)
        if code != 0:
            pytest.fail(_failure(block, code, output), pytrace=False)


def test_every_document_has_well_formed_markers() -> None:
    """Parsing every document raises on a marker without its block."""
    found = [block for path in documents() for block in runnable_blocks(path)]
    assert found, "no runnable block in README.md or docs/*.md"


def test_markers_are_parsed_in_order_with_their_limits(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "text\n```bash\nnot marked\n```\n"
        "<!-- runnable -->\n```bash\necho one\necho two\n```\n"
        "<!-- runnable timeout=5 -->\n```sh\nexit 3\n```\n"
        "````markdown\n<!-- runnable -->\n```bash\nan example, not run\n```\n````\n",
        encoding="utf-8",
    )
    blocks = runnable_blocks(doc)
    assert [(b.line, b.script, b.timeout_s) for b in blocks] == [
        (6, "echo one\necho two\n", DEFAULT_TIMEOUT_S),
        (11, "exit 3\n", 5),
    ]


@pytest.mark.parametrize(
    "text", ["<!-- runnable -->\nplain text\n", "<!-- runnable -->\n```bash\necho open\n"]
)
def test_a_marker_without_a_closed_block_is_an_error(tmp_path: Path, text: str) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=r"runnable marker|never closed"):
        runnable_blocks(doc)


def test_a_failing_block_reports_its_text_and_output(tmp_path: Path) -> None:
    block = Block(ROOT / "docs" / "x.md", 3, "echo before\nfalse\necho after\n", 10)
    code, output = _run(block, dict(os.environ))
    message = _failure(block, code, output)
    assert code == 1
    assert "docs/x.md:3 exited 1" in message
    assert "false\n" in message
    assert "before" in output
    assert "after" not in output


def test_a_block_past_its_limit_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    block = Block(ROOT / "docs" / "x.md", 1, f"sleep 60 &\necho $! > {pid_file}\nsleep 60\n", 1)
    code, _ = _run(block, dict(os.environ))
    assert code is None
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.05)
    assert not _alive(child), "the block's background child outlived it"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
