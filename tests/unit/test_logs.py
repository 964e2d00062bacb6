"""Process logging: where the lines go."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from fraudstream.logs import configure_logging


@pytest.fixture(autouse=True)
def _structlog_defaults_after() -> Iterator[None]:
    level = logging.getLogger().level
    yield
    structlog.reset_defaults()
    logging.getLogger().setLevel(level)


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


def _selector_warnings(level: str, caplog: pytest.LogCaptureFixture) -> list[str]:
    configure_logging(level)
    logging.getLogger().setLevel(level)  # basicConfig sets the level only once
    caplog.clear()
    selector = logging.getLogger("kafka.net.selector")
    selector.warning(
        "Task %r ran for %.3fs (>%.3fs threshold). It is blocking the event loop -- "
        "likely a tight sync loop inside a coroutine. Other pollers will time out.",
        "task",
        0.15,
        0.1,
    )
    selector.warning("connection to %s lost", "broker 1")
    return [record.getMessage() for record in caplog.records]


def test_kafka_pythons_slow_io_step_warning_shows_at_debug_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shown = _selector_warnings("INFO", caplog)
    assert shown == ["connection to broker 1 lost"]  # other kafka warnings still show
    assert any("blocking the event loop" in m for m in _selector_warnings("DEBUG", caplog))
