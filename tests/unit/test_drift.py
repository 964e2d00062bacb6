"""PSI against a training reference: the measure, the JSON form and the scorer's gauges."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from fraudstream.errors import ConfigError
from fraudstream.evaluation.drift import (
    ACT_PSI,
    MIN_ROWS,
    WATCH_PSI,
    Bins,
    build_reference,
    psi,
    reference_from_json,
    reference_to_json,
)
from fraudstream.models import ModelInput
from fraudstream.monitoring.drift import DriftMonitor

RNG = np.random.default_rng(7)
TRAIN = pd.DataFrame(
    {
        "amount": RNG.lognormal(3.5, 1.0, 20_000),
        "card_tx_count_1d": RNG.poisson(2.0, 20_000).astype(float),
        "is_night": (RNG.random(20_000) < 0.2).astype(float),
    }
)


def test_reference_bins_are_quantiles_whose_fractions_sum_to_one() -> None:
    reference = build_reference(TRAIN, bins=10)
    amount = reference["amount"]
    assert len(amount.edges) == 9
    assert len(amount.fractions) == 10
    assert sum(amount.fractions) == pytest.approx(1.0)
    assert all(f == pytest.approx(0.1, abs=0.01) for f in amount.fractions)
    # a two-valued column keeps one cut, not nine identical ones
    assert len(reference["is_night"].edges) == 1
    assert reference["is_night"].fractions[1] == pytest.approx(0.2, abs=0.01)


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift() -> None:
    amount = build_reference(TRAIN)["amount"]
    same = psi(amount, RNG.lognormal(3.5, 1.0, 5_000))
    mild = psi(amount, RNG.lognormal(3.9, 1.0, 5_000))
    strong = psi(amount, RNG.lognormal(4.5, 1.0, 5_000))
    assert same is not None
    assert mild is not None
    assert strong is not None
    assert same < 0.02
    assert WATCH_PSI < mild < strong
    assert strong > ACT_PSI


def test_psi_needs_enough_rows_and_ignores_nan() -> None:
    amount = build_reference(TRAIN)["amount"]
    assert psi(amount, np.full(MIN_ROWS - 1, 30.0)) is None
    values = np.concatenate([RNG.lognormal(3.5, 1.0, 1_000), np.full(500, np.nan)])
    result = psi(amount, values)
    assert result is not None
    assert result < 0.05


def test_json_round_trip_and_one_format_only() -> None:
    reference = build_reference(TRAIN)
    assert reference_from_json(reference_to_json(reference)) == reference
    cuts = json.dumps({"x": {"edges": [1.0, 2.0], "fractions": [0.2, 0.5, 0.3]}})
    assert reference_from_json(cuts)["x"] == Bins((1.0, 2.0), (0.2, 0.5, 0.3))
    outer = json.dumps({"x": {"edges": [0.0, 1.0, 2.0, 3.0], "fractions": [0.2, 0.5, 0.3]}})
    with pytest.raises(ConfigError, match="one more fraction than edges"):
        reference_from_json(outer)


def test_the_training_pipelines_reference_is_read() -> None:
    from fraudstream.training.trainer import _drift_reference

    x = TRAIN[["amount", "is_night"]].to_numpy()
    scores = RNG.beta(1, 20, len(x))
    saved = _drift_reference(x, ["amount", "is_night"], scores)
    saved["empty"] = {"edges": [], "fractions": []}
    reference = reference_from_json(json.dumps(saved))
    assert set(reference) == {"amount", "is_night", "score"}
    amount = psi(reference["amount"], TRAIN["amount"].to_numpy())
    assert amount is not None
    assert amount < 0.01
    moved = psi(reference["score"], scores * 3)
    assert moved is not None
    assert moved > ACT_PSI


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "not json",
        '{"x": {"edges": [1.0]}}',
        '{"x": {"edges": [1.0, 2.0, 3.0], "fractions": [1.0]}}',
        '{"x": {"edges": [2.0, 1.0], "fractions": [0.3, 0.3, 0.4]}}',
    ],
)
def test_a_bad_reference_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="drift reference"):
        reference_from_json(text)


def _gauges(registry: CollectorRegistry) -> dict[str, float]:
    return {
        s.labels["feature"]: s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == "fraudstream_drift_psi"
    }


def _inputs(frame: pd.DataFrame) -> ModelInput:
    """A frame's numeric columns as the scoring core's model input."""
    numeric = frame.select_dtypes("number")
    return ModelInput(tuple(numeric.columns), numeric.to_numpy(dtype=np.float64))


def test_the_monitor_exports_psi_per_column_over_a_rolling_window() -> None:
    registry = CollectorRegistry()
    training = TRAIN.assign(score=RNG.beta(1, 20, len(TRAIN)))
    monitor = DriftMonitor(registry, build_reference(training), window=2_000)
    assert _gauges(registry) == {}
    for _ in range(4):  # the same distribution as training
        batch = TRAIN.sample(500, random_state=int(RNG.integers(1 << 30)))
        monitor.observe(_inputs(batch), RNG.beta(1, 20, 500))
    calm = _gauges(registry)
    assert set(calm) == {"amount", "card_tx_count_1d", "is_night", "score"}
    assert max(calm.values()) < WATCH_PSI
    for _ in range(4):  # amounts triple: the window forgets the calm batches
        batch = TRAIN.sample(500, random_state=int(RNG.integers(1 << 30)))
        monitor.observe(_inputs(batch.assign(amount=batch["amount"] * 3)), RNG.beta(1, 20, 500))
    moved = _gauges(registry)
    assert moved["amount"] > ACT_PSI
    assert moved["card_tx_count_1d"] < WATCH_PSI


def test_the_gauge_is_the_psi_of_exactly_the_rows_in_the_window() -> None:
    """Many small batches, uneven sizes: the window's running totals match a recount."""
    registry = CollectorRegistry()
    reference = build_reference(TRAIN)
    monitor = DriftMonitor(registry, reference, window=1_000)
    frame = TRAIN.sample(6_000, random_state=3).assign(amount=lambda f: f["amount"] * 1.5)
    sizes = [17, 3, 40, 1, 25] * 200
    begin = 0
    kept: list[pd.DataFrame] = []
    for size in sizes:
        batch = frame.iloc[begin : begin + size]
        begin += size
        monitor.observe(_inputs(batch), np.zeros(len(batch)))
        kept.append(batch)
        while len(kept) > 1 and sum(map(len, kept)) - len(kept[0]) >= 1_000:
            kept.pop(0)
    window = pd.concat(kept)
    gauges = _gauges(registry)
    for name, bins in reference.items():
        assert gauges[name] == pytest.approx(psi(bins, window[name].to_numpy()), rel=1e-12)


def test_columns_the_batch_lacks_get_no_gauge_and_no_reference_is_a_no_op() -> None:
    registry = CollectorRegistry()
    DriftMonitor(registry).observe(_inputs(TRAIN.head(500)), np.zeros(500))
    assert _gauges(registry) == {}
    monitor = DriftMonitor(CollectorRegistry(), build_reference(TRAIN))
    monitor.observe(_inputs(TRAIN[["amount"]].head(500)), np.zeros(500))
    monitor.set_reference(build_reference(TRAIN[["amount"]]))
    monitor.observe(_inputs(TRAIN[["amount"]].head(500)), np.zeros(500))
