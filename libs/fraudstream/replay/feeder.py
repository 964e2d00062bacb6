"""Load, plan and encode a replay in a separate process, a few chunks ahead.

On two cores the sender (the Kafka producer and its I/O thread) and the encoder each
keep one busy; in one process they would share the GIL. The feeder process loads the
dataset itself, so only encoded chunks cross the process boundary, through a bounded
queue that stops it from running ahead by more than :data:`LOOKAHEAD_CHUNKS`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from fraudstream.datasets import BadRow, load_dataset
from fraudstream.datasets.base import BadRowPolicy
from fraudstream.datasets.loader import DatasetKind
from fraudstream.errors import FraudstreamError
from fraudstream.processes import StopOnExit, stop_process
from fraudstream.replay.plan import Chunk, ReplayOptions, plan_chunks, planned_transactions

LOOKAHEAD_CHUNKS: Final = 8
_POLL_S: Final = 0.5


@dataclass(frozen=True)
class FeedHeader:
    """What the feeder knows once the dataset is loaded."""

    dataset: str
    planned: int | None
    bad_rows: tuple[BadRow, ...]
    bad_row_count: int


class FeederError(FraudstreamError):
    """The feeder process died without saying why."""


def _feed(
    path: Path,
    kind: DatasetKind | None,
    on_bad_row: BadRowPolicy,
    options: ReplayOptions,
    out: mp.Queue[tuple[str, Any]],
    parent: int,
) -> None:
    """Body of the feeder process: header, chunks, then ``done`` (or ``error``).

    It ends by itself when its parent is gone (killed before it could stop it), so
    it never holds the parent's pipes open behind it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def put(message: tuple[str, Any]) -> None:
        while True:
            try:
                out.put(message, timeout=1.0)
            except queue.Full:
                if os.getppid() != parent:
                    # orphaned: exit at once; a normal exit would wait forever for the
                    # queue's writer thread to flush into a pipe nobody reads
                    os._exit(0)
                continue
            return

    try:
        dataset = load_dataset(path, kind, on_bad_row=on_bad_row)
        header = FeedHeader(
            dataset=dataset.name,
            planned=planned_transactions(dataset, options),
            bad_rows=dataset.bad_rows,
            bad_row_count=dataset.bad_row_count,
        )
        put(("header", header))
        for chunk in plan_chunks(dataset, options):
            put(("chunk", chunk))
        put(("done", None))
    except FraudstreamError as exc:
        put(("error", exc))
    except Exception as exc:  # report anything else to the parent rather than vanish
        put(("error", FeederError(f"the replay feeder failed: {exc!r}")))


class Feeder(StopOnExit):
    """A running feeder process: read its :meth:`header`, then iterate :meth:`chunks`."""

    def __init__(
        self,
        path: Path,
        options: ReplayOptions,
        *,
        kind: DatasetKind | None = None,
        on_bad_row: BadRowPolicy = "skip",
    ) -> None:
        context = mp.get_context("spawn")
        self._queue: mp.Queue[tuple[str, Any]] = context.Queue(maxsize=LOOKAHEAD_CHUNKS)
        self._process = context.Process(
            target=_feed,
            args=(path, kind, on_bad_row, options, self._queue, os.getpid()),
            name="fraudstream-replay-feeder",
            daemon=True,
        )
        self._process.start()

    def _next(self, stop: threading.Event | None = None) -> tuple[str, Any] | None:
        while True:
            if stop is not None and stop.is_set():
                return None
            try:
                message = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                if not self._process.is_alive():
                    code = self._process.exitcode
                    raise FeederError(f"the replay feeder exited with code {code}") from None
                continue
            kind, payload = message
            if kind == "error":
                raise payload
            return kind, payload

    def header(self, stop: threading.Event | None = None) -> FeedHeader | None:
        """Wait for the dataset to load; raise its error if it could not be; None if
        ``stop`` was set first."""
        message = self._next(stop)
        if message is None:
            return None
        kind, payload = message
        if kind != "header":
            raise FeederError(f"the replay feeder sent {kind!r} before its header")
        return payload  # type: ignore[no-any-return]

    def chunks(self) -> Iterator[Chunk]:
        """The encoded chunks, in send order."""
        while True:
            message = self._next()
            if message is None or message[0] == "done":
                return
            yield message[1]

    def stop(self) -> None:
        """Stop the feeder process (it may be blocked on a full queue) and reap it."""
        stop_process(self._process, 5.0)
        self._queue.close()
        self._queue.cancel_join_thread()
