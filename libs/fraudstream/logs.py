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
