"""Logging setup for processes: structlog over the standard library.

Called once from a process's ``main()``; importing this module configures nothing.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO, cast

import structlog


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at each write, so that logs follow a swapped stream
    (pytest's capture, ``contextlib.redirect_stderr``) instead of writing to the one
    that was current when logging was configured, which may be closed by then."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _SlowIoStepFilter(logging.Filter):
    """Keeps kafka-python's "Task ... ran for 0.1xx s ... It is blocking the event loop"
    warning out of the output below DEBUG.

    kafka-python 3.0 times each step of its I/O thread's tasks by the wall clock and
    warns past 100 ms, a check meant for coroutines stuck in a loop. In a process whose
    main thread produces as fast as it can (``replay --max``) on two shared cores, the
    I/O thread waits for the interpreter lock and for a core inside a step: timed by
    the thread's own CPU clock, such steps measured 1-76 ms of CPU in 104-132 ms of wall
    time. Nothing is stuck and no request is lost; the measure and its reproduction are
    in docs/benchmarks.md. With FRAUDSTREAM_LOG_LEVEL=DEBUG the warning shows again.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if "blocking the event loop" not in str(record.msg):
            return True
        return logging.getLogger().isEnabledFor(logging.DEBUG)


_SLOW_IO_STEP_FILTER = _SlowIoStepFilter()


def configure_logging(
    level: str = "INFO", *, json: bool = False, stream: TextIO | None = None
) -> None:
    """Send structured logs to stderr (or ``stream``), as key=value text or as JSON lines."""
    out = cast(TextIO, _CurrentStderr()) if stream is None else stream
    tty = (sys.stderr if stream is None else stream).isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=tty)
    )
    logging.basicConfig(level=level.upper(), stream=out, format="%(message)s")
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
    logging.getLogger("kafka.net.selector").addFilter(_SLOW_IO_STEP_FILTER)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=True,
    )
