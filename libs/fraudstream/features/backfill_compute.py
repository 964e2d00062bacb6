"""The window state a store holds after a history, computed in bulk rather than replayed.

Feeding a :class:`~fraudstream.features.history.History` to a store one transaction at
a time leaves, per card and per merchant, a set of kept transactions, a few running
totals and (merchants) a set of reported frauds. :func:`window_state` computes that end
state directly, with numpy over the whole history, from three facts of the semantics
in docs/features.md:

1. A delivery is **recorded** when it is the first of its id for the entity and not
   too late against the latest event time delivered to the entity before it. (A
   repeat carries its first delivery's time, so it is a duplicate while that one is
   kept and too late once the horizon dropped it: never recorded twice. Deliveries
   that are not recorded never raise the latest time.)
2. After every record the entity keeps the recorded transactions no older than the
   horizon behind its latest event time; with at most ``max_events_per_entity`` of
   them ever recorded, the cap never removed one.
3. A card's running totals at a kept transaction are what every removed transaction
   added up to, plus the kept ones up to it in (event time, id) order.

An entity where 1 or 2 does not hold (more transactions recorded than the cap, or a
repeated id with another time or amount) is replayed delivery by delivery through the
reference's :class:`~fraudstream.features.reference.EntityHistory` instead: exact,
slower, and rare. Fraud reports are few and go one by one: a report counts when its
transaction is kept by the merchant at delivery, and trims the merchant's frauds older
than its horizon. The Redis script trims only on a report it counts, the reference on
every report to a merchant it knows, so the state holds both sets
(``store_frauds`` and ``reference_frauds`` of
:class:`~fraudstream.features.backfill_state.WindowState`); they differ
only in frauds too old for any window of a transaction within the allowed lateness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from fraudstream.features.backfill_state import FraudSets, KeptSets, WindowState
from fraudstream.features.definitions import FeatureConfig
from fraudstream.features.history import History, event_ms
from fraudstream.features.reference import EntityHistory, MerchantHistory, Outcome

__all__ = ["window_state"]

#: Below any event time: "nothing delivered yet" (leaves room to subtract a lateness).
_NEVER: Final = -(2**62)


@dataclass(frozen=True)
class _Arrivals:
    """The history's deliveries as arrays, in arrival order."""

    ids: np.ndarray  # object
    id_rank: np.ndarray  # rank of the id in byte order (Redis's order among equal times)
    ms: np.ndarray
    cents: np.ndarray
    cards: np.ndarray  # object, None when missing
    merchants: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame) -> _Arrivals:
        ids = frame["transaction_id"].astype(str).to_numpy(dtype=object)
        rank, _ = pd.factorize(ids, sort=True)  # str order = code point = UTF-8 byte order
        cents = np.rint(frame["amount"].to_numpy(dtype=np.float64) * 100).astype(np.int64)
        return cls(
            ids=ids,
            id_rank=rank.astype(np.int64),
            ms=event_ms(frame["event_time"]),
            cents=cents,
            cards=_entity_keys(frame["card_id"]),
            merchants=_entity_keys(frame["merchant_id"]),
        )


def _entity_keys(column: pd.Series) -> np.ndarray:
    """Entity ids as text; None where missing (None, NaN, NA or empty), as the stores do."""
    keys = np.full(len(column), None, dtype=object)
    present = column.notna().to_numpy()
    text = column[present].astype(str).to_numpy(dtype=object)
    keys[np.flatnonzero(present)] = text
    keys[keys == ""] = None
    return keys


@dataclass(frozen=True)
class _Reports:
    """Fraud reports in delivery order."""

    position: np.ndarray
    ids: list[str]
    merchants: list[str | None]
    ms: np.ndarray

    @classmethod
    def of(cls, labels: pd.DataFrame, deliveries: int) -> _Reports:
        position = np.maximum(0, labels["known_before"].to_numpy(dtype=np.int64))
        due = np.flatnonzero(position <= deliveries)
        due = due[np.argsort(position[due], kind="stable")]
        merchants = _entity_keys(labels["merchant_id"])[due]
        return cls(
            position=position[due],
            ids=labels["transaction_id"].astype(str).to_numpy(dtype=object)[due].tolist(),
            merchants=merchants.tolist(),
            ms=event_ms(labels["event_time"])[due],
        )


@dataclass
class _Frauds:
    """One merchant's frauds as each store would hold them."""

    store: dict[str, int] = field(default_factory=dict)
    reference: dict[str, int] = field(default_factory=dict)
    flagged: bool = False

    def deliver(self, tx_id: str, t: int, *, kept: bool, threshold: float) -> None:
        """A report reaching a merchant that has seen transactions; ``threshold`` is its
        latest event time minus its horizon."""
        if kept:  # report_frauds.lua: ZADD, then trim, for a kept transaction only
            self.store[tx_id] = t
            self.store = {i: s for i, s in self.store.items() if s >= threshold}
            self.flagged = True
        # the reference: the first report of a kept one counts; every report trims
        if kept and tx_id not in self.reference:
            self.reference[tx_id] = t
        self.reference = {i: s for i, s in self.reference.items() if s >= threshold}


class _Kind:
    """One kind of entity (cards or merchants): its deliveries grouped by entity, in
    arrival order within each."""

    def __init__(self, arrivals: _Arrivals, keys: np.ndarray, horizon_ms: int) -> None:
        self.horizon_ms = horizon_ms
        rows = np.flatnonzero(pd.notna(keys))
        codes, entities = pd.factorize(keys[rows], sort=True)
        order = np.argsort(codes, kind="stable")
        self.entities = np.asarray(entities, dtype=object)
        self.code = codes[order].astype(np.int64)
        self.pos = rows[order]
        self.ids = arrivals.ids[self.pos]
        self.rank = arrivals.id_rank[self.pos]
        self.ms = arrivals.ms[self.pos]
        self.cents = arrivals.cents[self.pos]
        n = len(self.entities)
        self.starts = np.searchsorted(self.code, np.arange(n))
        self.ends = np.append(self.starts[1:], len(self.code)).astype(np.int64)

    def __len__(self) -> int:
        return len(self.entities)


@dataclass
class _Shortcut:
    """The bulk pass over one kind: what it found per delivery and per entity."""

    running_max: np.ndarray  # latest event time delivered up to each delivery
    recorded: np.ndarray  # per delivery
    latest: np.ndarray  # per entity
    count: np.ndarray
    cents: np.ndarray
    replay: np.ndarray  # per entity: the shortcut does not hold, replay it


def _shortcut(kind: _Kind, config: FeatureConfig, id_count: int) -> _Shortcut:
    key = kind.code * id_count + kind.rank
    repeat = pd.Series(key).duplicated().to_numpy()
    replay = np.zeros(len(kind), dtype=bool)
    if repeat.any():  # a repeat must carry its first delivery's time and amount
        firsts = np.flatnonzero(~repeat)
        first = firsts[pd.Index(key[firsts]).get_indexer(key[repeat])]
        changed = (kind.ms[repeat] != kind.ms[first]) | (kind.cents[repeat] != kind.cents[first])
        replay[kind.code[repeat][changed]] = True
    running_max = pd.Series(kind.ms).groupby(kind.code, sort=False).cummax().to_numpy()
    before = np.empty_like(running_max)
    before[1:] = running_max[:-1]
    before[kind.starts] = _NEVER
    recorded = ~repeat & (kind.ms >= before - config.lateness_ms)
    count = np.zeros(len(kind), dtype=np.int64)
    cents = np.zeros(len(kind), dtype=np.int64)
    if len(kind):
        count = np.add.reduceat(recorded.astype(np.int64), kind.starts)
        cents = np.add.reduceat(np.where(recorded, kind.cents, 0), kind.starts)
    replay |= count > config.max_events_per_entity
    return _Shortcut(
        running_max=running_max,
        recorded=recorded,
        latest=running_max[kind.ends - 1],
        count=count,
        cents=cents,
        replay=replay,
    )


@dataclass
class _Members:
    """Kept members gathered from both paths, to be put in entity order."""

    code: list[np.ndarray] = field(default_factory=list)
    seq: list[np.ndarray] = field(default_factory=list)
    ids: list[np.ndarray] = field(default_factory=list)
    ms: list[np.ndarray] = field(default_factory=list)
    cents: list[np.ndarray] = field(default_factory=list)

    def add(
        self, code: np.ndarray, seq: np.ndarray, ids: np.ndarray, ms: np.ndarray, cents: np.ndarray
    ) -> None:
        self.code.append(code)
        self.seq.append(seq)
        self.ids.append(ids)
        self.ms.append(ms)
        self.cents.append(cents)

    def kept_sets(self, kind: _Kind, bulk: _Shortcut) -> KeptSets:
        code = np.concatenate([np.zeros(0, np.int64), *self.code])
        order = np.lexsort((np.concatenate([np.zeros(0, np.int64), *self.seq]), code))
        code = code[order]
        return KeptSets(
            entities=kind.entities,
            latest_ms=bulk.latest,
            recorded=bulk.count,
            recorded_cents=bulk.cents,
            offsets=np.searchsorted(code, np.arange(len(kind) + 1)).astype(np.int64),
            member_ids=np.concatenate([np.zeros(0, object), *self.ids])[order],
            member_ms=np.concatenate([np.zeros(0, np.int64), *self.ms])[order],
            member_cents=np.concatenate([np.zeros(0, np.int64), *self.cents])[order],
        )


def _bulk_members(kind: _Kind, bulk: _Shortcut, members: _Members) -> None:
    """The kept members of every entity the shortcut holds for."""
    kept = (
        bulk.recorded
        & (kind.ms >= bulk.latest[kind.code] - kind.horizon_ms)
        & ~bulk.replay[kind.code]
    )
    rows = np.flatnonzero(kept)
    rows = rows[np.lexsort((kind.rank[rows], kind.ms[rows], kind.code[rows]))]
    code = kind.code[rows]
    seq = np.arange(len(rows)) - np.searchsorted(code, code, side="left")
    members.add(code, seq, kind.ids[rows], kind.ms[rows], kind.cents[rows])


def _replayed(
    kind: _Kind,
    i: int,
    config: FeatureConfig,
    reports: _Reports,
    due: Sequence[int],
    frauds: _Frauds | None,
) -> tuple[EntityHistory, int, int]:
    """Entity ``i`` fed delivery by delivery (with its due reports, for a merchant);
    return its history, the transactions recorded and their cents."""
    cap = config.max_events_per_entity
    history = (
        MerchantHistory(kind.horizon_ms, cap)
        if frauds is not None
        else EntityHistory(kind.horizon_ms, cap)
    )
    recorded = cents = 0
    pending = iter(due)
    report = next(pending, None)
    seen = False

    def deliver(k: int) -> None:
        if not seen or frauds is None:
            return
        tx_id, t = reports.ids[k], int(reports.ms[k])
        threshold = history.max_t - kind.horizon_ms
        frauds.deliver(tx_id, t, kept=tx_id in history, threshold=threshold)

    for j in range(kind.starts[i], kind.ends[i]):
        while report is not None and reports.position[report] <= kind.pos[j]:
            deliver(report)
            report = next(pending, None)
        outcome = history.offer(
            int(kind.ms[j]), str(kind.ids[j]), int(kind.cents[j]), config.lateness_ms
        )
        seen = True
        if outcome is Outcome.RECORDED:
            recorded += 1
            cents += int(kind.cents[j])
    while report is not None:
        deliver(report)
        report = next(pending, None)
    return history, recorded, cents


def _bulk_frauds(
    kind: _Kind, bulk: _Shortcut, reports: _Reports, due: dict[int, list[int]]
) -> dict[int, _Frauds]:
    """Deliver the reports of the merchants the shortcut holds for."""
    wanted = set(reports.ids)
    rows = np.flatnonzero(bulk.recorded & pd.Series(kind.ids).isin(wanted).to_numpy())
    recorded_at = {
        (int(c), str(tx)): (int(p), int(t))
        for c, tx, p, t in zip(
            kind.code[rows], kind.ids[rows], kind.pos[rows], kind.ms[rows], strict=True
        )
    }
    sets: dict[int, _Frauds] = {}
    for i, ks in due.items():
        if bulk.replay[i]:
            continue
        start, end = kind.starts[i], kind.ends[i]
        positions = kind.pos[start:end]
        frauds = sets.setdefault(i, _Frauds())
        for k in ks:
            before = int(np.searchsorted(positions, reports.position[k], side="left"))
            if before == 0:
                continue  # the merchant has seen nothing yet
            threshold = int(bulk.running_max[start + before - 1]) - kind.horizon_ms
            hit = recorded_at.get((i, reports.ids[k]))
            kept = hit is not None and hit[0] < reports.position[k] and hit[1] >= threshold
            frauds.deliver(reports.ids[k], int(reports.ms[k]), kept=kept, threshold=threshold)
    return sets


def _fraud_sets(n: int, sets: dict[int, _Frauds], which: str) -> FraudSets:
    flagged = np.zeros(n, dtype=bool)
    counts = np.zeros(n, dtype=np.int64)
    ids: list[str] = []
    ms: list[int] = []
    for i in sorted(sets):
        held = sets[i].store if which == "store" else sets[i].reference
        flagged[i] = sets[i].flagged
        entries = sorted(held.items(), key=lambda item: (item[1], item[0].encode()))
        counts[i] = len(entries)
        ids += [tx for tx, _ in entries]
        ms += [t for _, t in entries]
    return FraudSets(
        flagged=flagged,
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        ids=np.array(ids, dtype=object),
        ms=np.array(ms, dtype=np.int64),
    )


def _kept_sets(
    kind: _Kind,
    config: FeatureConfig,
    id_count: int,
    reports: _Reports | None = None,
) -> tuple[KeptSets, dict[int, _Frauds], int]:
    """One kind's kept sets (and, for merchants, frauds); the entities replayed."""
    bulk = _shortcut(kind, config, id_count)
    members = _Members()
    _bulk_members(kind, bulk, members)
    due: dict[int, list[int]] = {}
    if reports is not None:
        codes = pd.Index(kind.entities).get_indexer(pd.Series(reports.merchants, dtype=object))
        for k, code in enumerate(codes.tolist()):
            if code >= 0:
                due.setdefault(code, []).append(k)
    sets = _bulk_frauds(kind, bulk, reports, due) if reports is not None else {}
    replayed = np.flatnonzero(bulk.replay)
    for i in replayed.tolist():
        frauds = _Frauds() if reports is not None else None
        history, count, cents = _replayed(
            kind, i, config, reports or _NO_REPORTS, due.get(i, []), frauds
        )
        kept = history.kept()
        members.add(
            np.full(len(kept), i, dtype=np.int64),
            np.arange(len(kept)),
            np.array([tx for _, tx, _ in kept], dtype=object),
            np.array([t for t, _, _ in kept], dtype=np.int64),
            np.array([c for _, _, c in kept], dtype=np.int64),
        )
        bulk.count[i], bulk.cents[i] = count, cents
        bulk.latest[i] = int(history.max_t)  # deliveries not recorded never raise it
        if frauds is not None:
            sets[i] = frauds
    return members.kept_sets(kind, bulk), sets, len(replayed)


_NO_REPORTS: Final = _Reports(
    position=np.zeros(0, np.int64), ids=[], merchants=[], ms=np.zeros(0, np.int64)
)


def window_state(history: History, config: FeatureConfig) -> WindowState:
    """The state a store with ``config`` holds once fed ``history``: its transactions
    in order, each fraud report just before the transaction at its position (those
    at ``len(history)`` after the last one)."""
    arrivals = _Arrivals.of(history.transactions)
    reports = _Reports.of(history.fraud_labels, len(history))
    id_count = int(arrivals.id_rank.max()) + 1 if len(arrivals.id_rank) else 1
    cards, _, cards_replayed = _kept_sets(
        _Kind(arrivals, arrivals.cards, config.card_horizon_ms), config, id_count
    )
    merchant_kind = _Kind(arrivals, arrivals.merchants, config.merchant_horizon_ms)
    merchants, sets, merchants_replayed = _kept_sets(merchant_kind, config, id_count, reports)
    return WindowState(
        config=config,
        until_ms=history.until_ms,
        transactions=len(history),
        cards=cards,
        merchants=merchants,
        store_frauds=_fraud_sets(len(merchants), sets, "store"),
        reference_frauds=_fraud_sets(len(merchants), sets, "reference"),
        replayed=cards_replayed + merchants_replayed,
    )
