"""Micro-batching: requests waiting to be scored share one scoring core call.

The event loop hands each request's transactions to :class:`ScoringBatcher` and awaits
the answer. One scoring thread takes everything that has queued up since its last
call (in arrival order, up to a number of transactions) and scores it in as few
:meth:`~fraudstream.api.service.ScoringService.score` calls as it can: one feature
store round trip and one model call per run of requests that agree on ``record`` and
on the names of their dataset features. Under light load a request is scored alone, as
soon as it arrives; under heavy load the Redis round trip, the model frame and the
thread hand-offs are paid once per batch instead of once per request.

What a request sees does not depend on its batch mates:

- recording requests are recorded in arrival order, each one's transactions together
  in one script call, as if the requests had come one after another;
- read-only requests record nothing, and read-only transactions never see each other,
  so reading several requests at once answers what reading each alone would;
- the model frame of a run has exactly the columns each request alone would give it
  (runs never mix different dataset feature names), and every model scores row by row;
- when Redis is unavailable every request of the batch gets the 503; any other
  failure (a script or model error) makes the batch's requests be scored again one by
  one, so only the request that causes it fails.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

import structlog

from fraudstream.features.errors import FeatureStoreUnavailableError
from fraudstream.schemas import Transaction
from fraudstream.scoring.core import ScoredBatch

log = structlog.get_logger(__name__)

#: What a request gets back per transaction (built on the scoring thread).
R = TypeVar("R")

#: The scoring thread's stop signal.
_STOP: Final = None


@dataclass
class _Pending(Generic[R]):
    """One request waiting for its answer."""

    txs: Sequence[Transaction]
    record: bool
    future: asyncio.Future[list[R]]
    loop: asyncio.AbstractEventLoop
    #: Its answer (or the exception to raise), filled in on the scoring thread.
    outcome: list[R] | BaseException | None = field(default=None)

    @property
    def kind(self) -> tuple[bool, tuple[str, ...]]:
        """Requests of one kind can share a core call: ``record`` and feature names."""
        first = self.txs[0]
        return self.record, tuple(first.features)

    @property
    def uniform(self) -> bool:
        """All its transactions carry the same dataset feature names."""
        names = self.txs[0].features.keys()
        return all(tx.features.keys() == names for tx in self.txs)


class ScoringBatcher(Generic[R]):
    """Scores requests on one thread, batching those that queue up meanwhile.

    ``score`` is the scoring service's call; ``answer`` turns its scored batch into one
    answer per transaction. ``max_transactions`` caps a batch (a request larger than
    that is scored alone).
    """

    def __init__(
        self,
        score: Callable[[Sequence[Transaction], bool], ScoredBatch],
        answer: Callable[[ScoredBatch], list[R]],
        max_transactions: int,
    ) -> None:
        self._score = score
        self._answer = answer
        self._max = max_transactions
        self._queue: queue.SimpleQueue[_Pending[R] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="api-score", daemon=True)
        self._held: _Pending[R] | None = None

    def start(self) -> None:
        """Start the scoring thread."""
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Score what is queued, then stop the scoring thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout_s)

    async def score(self, txs: Sequence[Transaction], *, record: bool) -> list[R]:
        """The answers for one request's transactions, in order.

        Raises what scoring it raised (:class:`~fraudstream.errors.ServiceUnavailableError`
        when Redis or the model cannot answer).
        """
        loop = asyncio.get_running_loop()
        pending = _Pending(txs, record, loop.create_future(), loop)
        self._queue.put(pending)
        return await pending.future

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            for run in _runs(batch, self._max):
                self._score_run(run)
            _deliver(batch)

    def _take(self) -> list[_Pending[R]]:
        """The next request (waiting for one), and all that are queued behind it."""
        first = self._held if self._held is not None else self._queue.get()
        self._held = None
        if first is None:
            return []
        batch, size = [first], len(first.txs)
        while size < self._max:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:  # stop after this batch
                self._queue.put(_STOP)
                break
            if size + len(item.txs) > self._max:
                self._held = item
                break
            batch.append(item)
            size += len(item.txs)
        return batch

    def _score_run(self, run: list[_Pending[R]]) -> None:
        """Score requests that can share a call; on failure, isolate the culprit."""
        txs = [tx for pending in run for tx in pending.txs]
        try:
            answers = self._answer(self._score(txs, run[0].record))
        except FeatureStoreUnavailableError as exc:  # Redis is away: it is so for all
            for pending in run:
                pending.outcome = exc
            return
        except Exception as exc:
            if len(run) > 1:
                log.warning("batch failed, scoring its requests one by one", error=repr(exc))
                for pending in run:
                    self._score_run([pending])
                return
            run[0].outcome = exc
            return
        start = 0
        for pending in run:
            end = start + len(pending.txs)
            pending.outcome = answers[start:end]
            start = end


def _runs(batch: list[_Pending[R]], max_transactions: int) -> list[list[_Pending[R]]]:
    """Consecutive requests of one kind, each run within ``max_transactions``.

    A request whose own transactions differ in feature names always runs alone.
    """
    runs: list[list[_Pending[R]]] = []
    for _, group in itertools.groupby(batch, key=lambda p: p.kind if p.uniform else id(p)):
        run: list[_Pending[R]] = []
        size = 0
        for pending in group:
            if run and size + len(pending.txs) > max_transactions:
                runs.append(run)
                run, size = [], 0
            run.append(pending)
            size += len(pending.txs)
        runs.append(run)
    return runs


def _deliver(batch: list[_Pending[R]]) -> None:
    """Hand the answers to their event loop: one wake-up per loop and batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Pending[R]]] = {}
    for pending in batch:
        by_loop.setdefault(pending.loop, []).append(pending)
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, items)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            continue


def _resolve(items: list[_Pending[R]]) -> None:
    for pending in items:
        if pending.future.done():  # the request was cancelled (client went away)
            continue
        if isinstance(pending.outcome, BaseException):
            pending.future.set_exception(pending.outcome)
        else:
            pending.future.set_result(pending.outcome or [])
