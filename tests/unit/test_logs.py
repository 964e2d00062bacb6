"""Process logging: where the lines go."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator

import pytest
import structlog

from fraudstream.logs import configure_logging


@pytest.fixture(autouse=True)
def _structlog_defaults_after() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def test_logs_follow_a_stderr_swapped_after_configuration() -> None:
    configure_logging("INFO", json=True)
    log = structlog.get_logger("test.logs")
    first, second = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(first):
        log.info("one", n=1)
    first.close()  # a closed capture must not take later lines down with it
    with contextlib.redirect_stderr(second):
        log.info("two", n=2)
    assert json.loads(second.getvalue())["event"] == "two"


def test_an_explicit_stream_gets_the_lines() -> None:
    out = io.StringIO()
    configure_logging("WARNING", json=True, stream=out)
    log = structlog.get_logger("test.logs.stream")
    log.info("dropped below the level")
    log.warning("kept", reason="level")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["event"], line["level"]) for line in lines] == [("kept", "warning")]
