"""SIGINT and SIGTERM as a stop request, for every long-running command."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

import structlog

log = structlog.get_logger(__name__)


@contextmanager
def stop_on_signals(
    stop: threading.Event, on_signal: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Inside the block, SIGINT/SIGTERM set ``stop`` (and call ``on_signal`` with the
    signal's name, which must not do I/O) instead of killing the process. Only the
    main thread can install handlers; elsewhere (tests running a service in a thread)
    this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        # The handler runs in the main thread between two bytecodes, possibly while
        # that thread holds a lock it would need: inside stop.wait() it may hold the
        # event's own (non-reentrant) lock, so stop.set() here can deadlock (a replay
        # once hung that way). So: no logging, no I/O, and set the event from another
        # thread, which simply waits for the lock.
        if on_signal is not None:
            on_signal(signal.Signals(signum).name)
        threading.Thread(target=stop.set, name="stop-on-signal", daemon=True).start()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if stop.is_set():
            log.info("stopped on request")
