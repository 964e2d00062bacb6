"""A seeded, vectorised credit-card transaction simulator with labelled fraud.

The design follows the "Transaction data simulator" chapter of *Reproducible
Machine Learning for Credit Card Fraud Detection - Practical handbook* (Le Borgne
et al., ULB Machine Learning Group and Worldline). Everything is drawn from one
``numpy.random.Generator`` seeded by :attr:`SimulatorConfig.seed`, with whole-array
operations only, so the same config always gives the same frame, bit for bit.

Profiles
    Customers sit uniformly on a 100 x 100 grid. Each has a mean amount drawn
    uniformly in [5, 100], an amount standard deviation of half that mean, and a
    mean number of transactions per day drawn uniformly in [0, 4]. Terminals sit
    uniformly on the same grid. A customer uses the terminals strictly closer than
    :attr:`SimulatorConfig.radius`; a customer with none makes no transactions.

Transactions
    For each day and customer, the number of transactions is Poisson with the
    customer's mean. Each time of day is Normal(43 200 s, 20 000 s), truncated to
    whole seconds; draws outside [0, 86 400) are dropped. Each amount is
    Normal(mean, std), redrawn as Uniform(0, 2 * mean) when negative, and rounded
    to cents. The terminal is uniform among the customer's terminals.

Fraud scenarios (column ``fraud_scenario``; 0 means genuine)
    1. Every transaction whose amount, as drawn, exceeds 220 is fraud.
    2. Each day, 2 terminals are compromised: all their transactions on that day
       and the next 27 (28 days in all) are fraud.
    3. Each day, 3 customers are compromised: over that day and the next 13,
       a third (rounded down) of each one's transactions, drawn at random, have
       their amount multiplied by 5 and are fraud.

    A fraudulent transaction is labelled with the first scenario that applies, 1
    before 2 before 3. Scenario 1 is judged on the amount before scenario 3
    multiplies it, so a scenario-3 row may exceed 220 while a genuine one never
    does. Unlike the handbook, compromises also start on the 27 (terminals) and
    13 (customers) days before the first simulated day, so the fraud rate is at
    its steady level from day one instead of ramping up over the first month.

>>> from datetime import UTC, datetime
>>> config = SimulatorConfig(customers=50, terminals=100, days=3, seed=7)
>>> frame = simulate(config)
>>> list(frame.columns)
['transaction_id', 'event_time', 'card_id', 'merchant_id', 'amount', 'is_fraud', 'fraud_scenario']
>>> frame["transaction_id"].iloc[0]
'sim-0000000001'
>>> str(frame["event_time"].dtype)
'datetime64[ns, UTC]'
>>> bool(frame["event_time"].is_monotonic_increasing)
True
>>> frame.equals(simulate(config))
True
>>> SimulatorConfig(days=0)
Traceback (most recent call last):
...
ValueError: SimulatorConfig.days must be >= 1, got 0
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["SimulatorConfig", "simulate"]

_Floats = npt.NDArray[np.float64]
_Ints = npt.NDArray[np.int64]
_Bools = npt.NDArray[np.bool_]

#: Side of the square grid customers and terminals live on.
_GRID_SIZE: Final = 100.0
#: Range of a customer's mean amount.
_MEAN_AMOUNT_RANGE: Final = (5.0, 100.0)
#: Upper bound of a customer's mean number of transactions per day.
_MAX_MEAN_TX_PER_DAY: Final = 4.0
#: Seconds in a day, and the mean and standard deviation of the time of day.
_DAY_SECONDS: Final = 86_400
_TIME_MEAN_SECONDS: Final = _DAY_SECONDS / 2
_TIME_STD_SECONDS: Final = 20_000.0

#: Scenario 1: amounts strictly above this are fraud.
_SCENARIO1_THRESHOLD: Final = 220.0
#: Scenario 2: terminals compromised per day, and for how many days.
_SCENARIO2_PER_DAY: Final = 2
_SCENARIO2_DAYS: Final = 28
#: Scenario 3: customers compromised per day, for how many days, the share of their
#: transactions that are fraud (one in ``_SCENARIO3_SHARE_DIVISOR``), and the factor.
_SCENARIO3_PER_DAY: Final = 3
_SCENARIO3_DAYS: Final = 14
_SCENARIO3_SHARE_DIVISOR: Final = 3
_SCENARIO3_FACTOR: Final = 5.0

#: Most pairwise distances computed at once by the neighbour search.
_NEIGHBOUR_CHUNK_CELLS: Final = 4_000_000

_NS_PER_SECOND: Final = 1_000_000_000


@dataclass(frozen=True)
class SimulatorConfig:
    """What to simulate: population sizes, duration, reach, seed and first day.

    ``start`` must be timezone-aware; day ``d`` covers ``[start + d days,
    start + (d + 1) days)``.
    """

    customers: int = 5_000
    terminals: int = 10_000
    days: int = 30
    radius: float = 5.0
    seed: int = 42
    start: datetime = datetime(2024, 4, 1, tzinfo=UTC)

    def __post_init__(self) -> None:
        _validate(self)


def _validate(config: SimulatorConfig) -> None:
    """Raise ``ValueError`` naming the first invalid field of ``config``."""
    for name, minimum in (("customers", 1), ("terminals", 1), ("days", 1), ("seed", 0)):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"SimulatorConfig.{name} must be an int, got {value!r}")
        if value < minimum:
            raise ValueError(f"SimulatorConfig.{name} must be >= {minimum}, got {value}")
    if not np.isfinite(config.radius) or config.radius <= 0:
        raise ValueError(f"SimulatorConfig.radius must be > 0, got {config.radius!r}")
    if config.start.tzinfo is None or config.start.utcoffset() is None:
        raise ValueError(f"SimulatorConfig.start must be timezone-aware, got {config.start!r}")


class _Customers(NamedTuple):
    """Customer profiles, one entry per customer."""

    xy: _Floats
    mean_amount: _Floats
    std_amount: _Floats
    mean_tx_per_day: _Floats


class _Neighbours(NamedTuple):
    """Terminals each customer uses, in CSR form.

    Customer ``c`` uses ``terminals[offsets[c]:offsets[c + 1]]``.
    """

    offsets: _Ints
    terminals: _Ints

    def counts(self) -> _Ints:
        """Number of terminals each customer uses."""
        return np.diff(self.offsets)


class _Transactions(NamedTuple):
    """Genuine transactions in generation order (day, then customer)."""

    day: _Ints
    second: _Ints
    customer: _Ints
    terminal: _Ints
    amount: _Floats


def _draw_customers(rng: np.random.Generator, count: int) -> _Customers:
    """Draw ``count`` customer profiles."""
    xy = rng.uniform(0.0, _GRID_SIZE, size=(count, 2))
    mean_amount = rng.uniform(*_MEAN_AMOUNT_RANGE, size=count)
    mean_tx_per_day = rng.uniform(0.0, _MAX_MEAN_TX_PER_DAY, size=count)
    return _Customers(xy, mean_amount, mean_amount / 2.0, mean_tx_per_day)


def _draw_terminals(rng: np.random.Generator, count: int) -> _Floats:
    """Draw the ``(count, 2)`` locations of the terminals."""
    return rng.uniform(0.0, _GRID_SIZE, size=(count, 2))


def _find_neighbours(customer_xy: _Floats, terminal_xy: _Floats, radius: float) -> _Neighbours:
    """Terminals strictly within ``radius`` of each customer, in index order.

    Distances are computed for blocks of customers at a time, so memory stays
    bounded by ``_NEIGHBOUR_CHUNK_CELLS`` whatever the population sizes.
    """
    n_customers, n_terminals = len(customer_xy), len(terminal_xy)
    chunk = max(1, _NEIGHBOUR_CHUNK_CELLS // max(1, n_terminals))
    radius_sq = radius * radius
    tx, ty = terminal_xy[:, 0], terminal_xy[:, 1]
    counts = np.zeros(n_customers, dtype=np.int64)
    found: list[_Ints] = []
    for first in range(0, n_customers, chunk):
        block = customer_xy[first : first + chunk]
        dist_sq = (block[:, :1] - tx) ** 2 + (block[:, 1:] - ty) ** 2
        rows, cols = np.nonzero(dist_sq < radius_sq)
        counts[first : first + len(block)] = np.bincount(rows, minlength=len(block))
        found.append(cols.astype(np.int64))
    offsets = np.zeros(n_customers + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    terminals = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    return _Neighbours(offsets, terminals)


def _draw_amounts(rng: np.random.Generator, mean: _Floats, std: _Floats) -> _Floats:
    """Normal amounts, negative ones redrawn as Uniform(0, 2 * mean), in cents."""
    amount = rng.normal(mean, std)
    negative = np.flatnonzero(amount < 0)
    amount[negative] = rng.uniform(0.0, 2.0 * mean[negative])
    return np.round(amount, 2)


def _draw_transactions(
    rng: np.random.Generator, customers: _Customers, neighbours: _Neighbours, days: int
) -> _Transactions:
    """Draw every genuine transaction of ``days`` days, ordered by day then customer."""
    n_customers = len(customers.mean_amount)
    usable = neighbours.counts() > 0
    per_day = rng.poisson(customers.mean_tx_per_day, size=(days, n_customers))
    per_day[:, ~usable] = 0
    flat_counts = per_day.ravel()
    slot = np.repeat(np.arange(flat_counts.size, dtype=np.int64), flat_counts)
    day, customer = np.divmod(slot, n_customers)

    seconds = rng.normal(_TIME_MEAN_SECONDS, _TIME_STD_SECONDS, size=slot.size)
    keep = (seconds >= 0) & (seconds < _DAY_SECONDS)
    day, customer = day[keep], customer[keep]
    second = np.floor(seconds[keep]).astype(np.int64)

    amount = _draw_amounts(rng, customers.mean_amount[customer], customers.std_amount[customer])
    choice = rng.integers(0, neighbours.counts()[customer])
    terminal = neighbours.terminals[neighbours.offsets[customer] + choice]
    return _Transactions(day, second, customer, terminal, amount)


def _sample_distinct(rng: np.random.Generator, population: int, k: int, rows: int) -> _Ints:
    """``rows`` independent uniform draws of ``k`` distinct ints in ``[0, population)``.

    Floyd's algorithm, vectorised over rows: ``k`` passes, whatever ``rows`` is.
    """
    chosen = np.empty((rows, k), dtype=np.int64)
    for i, upper in enumerate(range(population - k, population)):
        pick = rng.integers(0, upper + 1, size=rows)
        taken = (chosen[:, :i] == pick[:, None]).any(axis=1)
        chosen[:, i] = np.where(taken, upper, pick)
    return chosen


def _compromise_events(
    rng: np.random.Generator, population: int, per_day: int, duration: int, days: int
) -> tuple[_Ints, _Ints]:
    """Draw ``per_day`` distinct victims for every day whose window reaches day 0.

    Returns ``(first_day, victim)`` arrays; ``first_day`` runs from
    ``1 - duration`` (a warm-up, so day 0 is already at the steady fraud rate) to
    ``days - 1``.
    """
    k = min(per_day, population)
    first_days = np.arange(1 - duration, days, dtype=np.int64)
    victims = _sample_distinct(rng, population, k, len(first_days))
    return np.repeat(first_days, k), victims.ravel()


def _scenario1(amount: _Floats) -> _Bools:
    """Scenario 1: amounts above the threshold."""
    return amount > _SCENARIO1_THRESHOLD


def _scenario2(
    tx_day: _Ints, tx_terminal: _Ints, event_day: _Ints, event_terminal: _Ints, duration: int
) -> _Bools:
    """Scenario 2: transactions on a terminal within ``duration`` days of its compromise.

    Windows all have the same length, so a transaction is covered iff the latest
    compromise of its terminal on or before its day is less than ``duration`` days
    old; a sorted search finds that compromise for every transaction at once.
    """
    if event_day.size == 0:
        return np.zeros(tx_day.size, dtype=np.bool_)
    origin = int(min(event_day.min(), tx_day.min(initial=0)))
    span = int(max(event_day.max(), tx_day.max(initial=0))) - origin + 1
    event_key = np.sort(event_terminal * span + (event_day - origin))
    tx_key = tx_terminal * span + (tx_day - origin)
    latest = np.searchsorted(event_key, tx_key, side="right") - 1
    found = latest >= 0
    key = event_key[np.maximum(latest, 0)]
    same_terminal: _Bools = np.equal(key // span, tx_terminal)
    recent: _Bools = np.less((tx_day - origin) - key % span, duration)
    return found & same_terminal & recent


def _scenario3(
    rng: np.random.Generator,
    tx_day: _Ints,
    tx_customer: _Ints,
    *,
    event_day: _Ints,
    event_customer: _Ints,
    duration: int,
    days: int,
) -> _Bools:
    """Scenario 3: per compromise, a random third of the customer's window transactions.

    Transactions are sorted by (customer, day) so each compromise's window is one
    contiguous slice; all slices are then sampled together by ranking random keys
    within each slice. A transaction picked by two compromises counts once.
    """
    order = np.lexsort((tx_day, tx_customer))
    sorted_key = tx_customer[order] * days + tx_day[order]
    first = np.clip(event_day, 0, days)
    last = np.clip(event_day + duration, 0, days)
    lo = np.searchsorted(sorted_key, event_customer * days + first, side="left")
    hi = np.searchsorted(sorted_key, event_customer * days + last, side="left")
    size = hi - lo
    quota = size // _SCENARIO3_SHARE_DIVISOR

    event = np.repeat(np.arange(size.size, dtype=np.int64), size)
    starts = np.cumsum(size) - size
    within = np.arange(event.size, dtype=np.int64) - starts[event]
    shuffled = np.lexsort((rng.random(event.size), event))
    picked = shuffled[within < quota[event[shuffled]]]

    selected = np.zeros(tx_day.size, dtype=np.bool_)
    selected[order[lo[event[picked]] + within[picked]]] = True
    return selected


def _label(s1: _Bools, s2: _Bools, s3: _Bools) -> npt.NDArray[np.int8]:
    """The first scenario that applies to each transaction, 0 when none does."""
    return np.select([s1, s2, s3], [1, 2, 3], default=0).astype(np.int8)


def _ids(prefix: str, numbers: _Ints, width: int) -> npt.NDArray[np.str_]:
    """``prefix`` followed by each number zero-padded to ``width`` digits."""
    if numbers.size == 0:  # numpy's zfill cannot reduce over an empty array
        return np.zeros(0, dtype=np.str_)
    return np.strings.add(prefix, np.strings.zfill(numbers.astype(np.str_), width))


def _to_frame(
    start: datetime, tx: _Transactions, amount: _Floats, scenario: npt.NDArray[np.int8]
) -> pd.DataFrame:
    """Assemble the output frame, sorted by event time, ties kept in generation order."""
    start_ns = pd.Timestamp(start).tz_convert(UTC).as_unit("ns").value
    event_ns = start_ns + (tx.day * _DAY_SECONDS + tx.second) * _NS_PER_SECOND
    order = np.argsort(event_ns, kind="stable")
    customer, terminal = tx.customer[order], tx.terminal[order]
    # Format each customer / terminal id once, then index into those names.
    card_names = _ids("c", np.arange(customer.max(initial=-1) + 1, dtype=np.int64), 7)
    merchant_names = _ids("t", np.arange(terminal.max(initial=-1) + 1, dtype=np.int64), 7)
    scenario = scenario[order]
    frame = pd.DataFrame(
        {
            "transaction_id": _ids("sim-", np.arange(1, order.size + 1, dtype=np.int64), 10),
            "event_time": pd.to_datetime(event_ns[order], unit="ns", utc=True),
            "card_id": card_names[customer],
            "merchant_id": merchant_names[terminal],
            "amount": amount[order],
            "is_fraud": (scenario > 0).astype(np.int8),
            "fraud_scenario": scenario,
        }
    )
    for column in ("transaction_id", "card_id", "merchant_id"):
        frame[column] = frame[column].astype("str")
    return frame


def simulate(config: SimulatorConfig = SimulatorConfig()) -> pd.DataFrame:
    """Simulate ``config.days`` days of transactions with labelled fraud.

    Returns one row per transaction, sorted by ``event_time`` with index
    ``0..n-1``: ``transaction_id``, ``card_id`` and ``merchant_id`` (str),
    ``event_time`` (``datetime64[ns, UTC]``), ``amount`` (float64, in cents),
    ``is_fraud`` (int8 0/1) and ``fraud_scenario`` (int8 0..3).
    """
    rng = np.random.default_rng(config.seed)
    customers = _draw_customers(rng, config.customers)
    terminal_xy = _draw_terminals(rng, config.terminals)
    neighbours = _find_neighbours(customers.xy, terminal_xy, config.radius)
    tx = _draw_transactions(rng, customers, neighbours, config.days)

    terminal_days, terminal_victims = _compromise_events(
        rng, config.terminals, _SCENARIO2_PER_DAY, _SCENARIO2_DAYS, config.days
    )
    customer_days, customer_victims = _compromise_events(
        rng, config.customers, _SCENARIO3_PER_DAY, _SCENARIO3_DAYS, config.days
    )
    s1 = _scenario1(tx.amount)
    s2 = _scenario2(tx.day, tx.terminal, terminal_days, terminal_victims, _SCENARIO2_DAYS)
    s3 = _scenario3(
        rng,
        tx.day,
        tx.customer,
        event_day=customer_days,
        event_customer=customer_victims,
        duration=_SCENARIO3_DAYS,
        days=config.days,
    )
    amount = np.where(s3, np.round(tx.amount * _SCENARIO3_FACTOR, 2), tx.amount)
    return _to_frame(config.start, tx, amount, _label(s1, s2, s3))
