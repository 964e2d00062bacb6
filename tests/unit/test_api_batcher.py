"""Micro-batching of API requests: shared calls, per-request answers and failures."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from fraudstream.api.batcher import ScoringBatcher
from fraudstream.errors import ServiceUnavailableError
from fraudstream.features.errors import FeatureStoreUnavailableError
from fraudstream.features.memory_store import MemoryFeatureStore
from fraudstream.schemas import Transaction
from fraudstream.scoring.core import ScoredBatch, ScoringCore
from fraudstream.scoring.decide import Decider
from fraudstream.scoring.holder import ModelHolder
from fraudstream.testing.samples import sample_transaction


class _Core:
    """The scoring core over an in-memory store, recording each call; it can be held
    (to let requests queue up) and made to fail for a transaction id."""

    def __init__(self) -> None:
        self.core = ScoringCore(MemoryFeatureStore(), ModelHolder(None), Decider(0.5))
        self.calls: list[tuple[list[str], bool]] = []
        self.gate = threading.Event()
        self.gate.set()
        #: set when a call has started (and waits at the gate, if it is held)
        self.entered = threading.Event()
        self.poison: set[str] = set()
        self.unavailable = False

    def score(self, txs: Sequence[Transaction], record: bool) -> ScoredBatch:
        self.entered.set()
        self.gate.wait(10)
        ids = [tx.transaction_id for tx in txs]
        self.calls.append((ids, record))
        if self.unavailable:
            raise FeatureStoreUnavailableError("Redis is unavailable: test")
        if self.poison.intersection(ids):
            raise ServiceUnavailableError("feature store script failed: test")
        return self.core.run(txs, record=record)


def _answer(scored: ScoredBatch) -> list[tuple[str, bool]]:
    return [
        (tx.transaction_id, bool(dup))
        for tx, dup in zip(scored.transactions, scored.features.duplicate, strict=True)
    ]


def _txs(*ids: str, **fields: object) -> list[Transaction]:
    return [sample_transaction(transaction_id=i, **fields) for i in ids]  # type: ignore[arg-type]


async def _score_while_held(
    core: _Core, requests: list[tuple[list[Transaction], bool]]
) -> list[list[tuple[str, bool]] | BaseException]:
    """Send a first request, hold the core, queue the others, release: one batch."""
    batcher = ScoringBatcher(core.score, _answer, max_transactions=50)
    batcher.start()
    try:
        core.gate.clear()
        first = asyncio.ensure_future(batcher.score(_txs("warm"), record=True))
        # the thread now waits in the held call (however slow the machine)
        assert await asyncio.to_thread(core.entered.wait, 10)
        tasks = [asyncio.ensure_future(batcher.score(t, record=r)) for t, r in requests]
        await asyncio.sleep(0.05)
        core.gate.set()
        await first
        return await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        batcher.stop()


def test_requests_that_queue_up_share_one_call_and_get_their_own_answers() -> None:
    core = _Core()
    answers = asyncio.run(
        _score_while_held(
            core,
            [(_txs("a", "b"), True), (_txs("c"), True), (_txs("a"), True), (_txs("d"), False)],
        )
    )
    assert answers == [
        [("a", False), ("b", False)],
        [("c", False)],
        [("a", True)],  # recorded by the first request of the same call: in order
        [("d", False)],
    ]
    assert core.calls[1:] == [(["a", "b", "c", "a"], True), (["d"], False)]


def test_requests_with_other_dataset_features_are_not_mixed() -> None:
    core = _Core()
    asyncio.run(
        _score_while_held(
            core,
            [
                (_txs("a", features={"V1": 1.0}), True),
                (_txs("b", features={"V1": 2.0}), True),
                (_txs("c"), True),
                (_txs("d", features={"V2": 1.0}) + _txs("e"), True),
            ],
        )
    )
    assert [ids for ids, _ in core.calls[1:]] == [["a", "b"], ["c"], ["d", "e"]]


def test_a_failing_request_fails_alone() -> None:
    core = _Core()
    core.poison.add("bad")
    answers = asyncio.run(
        _score_while_held(core, [(_txs("a"), True), (_txs("bad"), True), (_txs("c"), True)])
    )
    assert answers[0] == [("a", False)]
    assert isinstance(answers[1], ServiceUnavailableError)
    assert answers[2] == [("c", False)]
    assert [ids for ids, _ in core.calls[1:]] == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]


def test_redis_unavailable_fails_every_request_of_the_batch_at_once() -> None:
    core = _Core()

    async def run() -> list[list[tuple[str, bool]] | BaseException]:
        batcher = ScoringBatcher(core.score, _answer, max_transactions=50)
        batcher.start()
        try:
            core.gate.clear()
            core.unavailable = True
            tasks = [asyncio.ensure_future(batcher.score(_txs(i), record=True)) for i in "abc"]
            await asyncio.sleep(0.05)
            core.gate.set()
            return await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            batcher.stop()

    answers = asyncio.run(run())
    assert all(isinstance(a, FeatureStoreUnavailableError) for a in answers)
    assert len(core.calls) <= 2  # the first alone, the others together: no retries


def test_a_batch_holds_at_most_max_transactions() -> None:
    core = _Core()

    async def run() -> None:
        batcher = ScoringBatcher(core.score, _answer, max_transactions=3)
        batcher.start()
        try:
            core.gate.clear()
            tasks = [
                asyncio.ensure_future(batcher.score(_txs(f"{i}a", f"{i}b"), record=True))
                for i in range(4)
            ]
            await asyncio.sleep(0.05)
            core.gate.set()
            await asyncio.gather(*tasks)
        finally:
            batcher.stop()

    asyncio.run(run())
    assert [len(ids) for ids, _ in core.calls] == [2, 2, 2, 2]
    assert [i for ids, _ in core.calls for i in ids] == [f"{i}{s}" for i in range(4) for s in "ab"]


@pytest.mark.parametrize("record", [True, False])
def test_stop_answers_what_is_queued(record: bool) -> None:
    core = _Core()

    async def run() -> list[tuple[str, bool]]:
        batcher = ScoringBatcher(core.score, _answer, max_transactions=50)
        batcher.start()
        task = asyncio.ensure_future(batcher.score(_txs("last"), record=record))
        await asyncio.sleep(0)
        batcher.stop()
        return await task

    assert asyncio.run(run()) == [("last", False)]
