"""The pure reference features: hand-computed scenarios of docs/features.md."""

from __future__ import annotations

import pandas as pd
import pytest

from fraudstream.features.definitions import (
    DAY_MS,
    FEATURE_NAMES,
    HOUR_MS,
    FeatureConfig,
)
from fraudstream.features.reference import compute_features

T0 = pd.Timestamp("2024-01-01", tz="UTC")  # a Monday, 00:00
MINUTE_MS = 60_000

Row = tuple[str, int, str | None, str | None, float]  # id, ms after T0, card, merchant, amount


def _at(ms: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(ms, unit="ms")


def _transactions(*rows: Row, index: list[object] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "transaction_id": [r[0] for r in rows],
            "event_time": pd.Series([_at(r[1]) for r in rows], dtype="datetime64[ns, UTC]"),
            "card_id": [r[2] for r in rows],
            "merchant_id": [r[3] for r in rows],
            "amount": [r[4] for r in rows],
        }
    )
    if index is not None:
        frame.index = pd.Index(index)
    return frame


def _labels(*reports: tuple[str, str | None, int, int]) -> pd.DataFrame:
    """Fraud reports: (transaction id, merchant, ms after T0, known_before)."""
    return pd.DataFrame(
        {
            "transaction_id": [r[0] for r in reports],
            "merchant_id": [r[1] for r in reports],
            "event_time": pd.Series([_at(r[2]) for r in reports], dtype="datetime64[ns, UTC]"),
            "known_before": [r[3] for r in reports],
        }
    )


def _column(features: pd.DataFrame, name: str) -> list[float]:
    return [float(v) for v in features[name]]


def _flags(features: pd.DataFrame) -> list[tuple[bool, bool]]:
    return [
        (bool(d), bool(la)) for d, la in zip(features["duplicate"], features["late"], strict=True)
    ]


# --- output shape ---------------------------------------------------------------------


def test_columns_index_and_dtypes() -> None:
    transactions = _transactions(
        ("a", 0, "k", "m", 1.0), ("b", 1, "k", None, 2.0), index=["x", "y"]
    )
    features = compute_features(transactions)
    assert list(features.columns) == [*FEATURE_NAMES, "duplicate", "late"]
    assert list(features.index) == ["x", "y"]
    assert all(features[name].dtype == "float64" for name in FEATURE_NAMES)
    assert features["duplicate"].dtype == bool
    assert features["late"].dtype == bool


def test_empty_frame_gives_empty_features() -> None:
    features = compute_features(_transactions())
    assert len(features) == 0
    assert list(features.columns) == [*FEATURE_NAMES, "duplicate", "late"]


def test_missing_column_is_refused() -> None:
    transactions = _transactions(("a", 0, "k", "m", 1.0)).drop(columns="amount")
    with pytest.raises(ValueError, match="amount"):
        compute_features(transactions)


# --- card windows -----------------------------------------------------------------------


def test_card_windows_exclude_t_minus_w_and_include_one_ms_later() -> None:
    t = 40 * DAY_MS
    transactions = _transactions(
        ("out30", t - 30 * DAY_MS, "k", None, 100.0),
        ("in30", t - 30 * DAY_MS + 1, "k", None, 1.0),
        ("out7", t - 7 * DAY_MS, "k", None, 200.0),
        ("in7", t - 7 * DAY_MS + 1, "k", None, 2.0),
        ("out1d", t - DAY_MS, "k", None, 300.0),
        ("in1d", t - DAY_MS + 1, "k", None, 4.0),
        ("out1h", t - HOUR_MS, "k", None, 400.0),
        ("in1h", t - HOUR_MS + 1, "k", None, 8.0),
        ("x", t, "k", None, 16.0),
    )
    x = compute_features(transactions).iloc[-1]
    assert x["card_tx_count_1h"] == 2.0  # in1h, x
    assert x["card_tx_count_1d"] == 4.0  # in1d, out1h, in1h, x
    assert x["card_tx_count_7d"] == 6.0
    assert x["card_tx_count_30d"] == 8.0
    assert x["card_amount_mean_1h"] == (8 + 16) / 2
    assert x["card_amount_mean_1d"] == (4 + 400 + 8 + 16) / 4
    assert x["card_amount_mean_7d"] == pytest.approx((2 + 300 + 4 + 400 + 8 + 16) / 6)
    assert x["card_amount_mean_30d"] == (1 + 200 + 2 + 300 + 4 + 400 + 8 + 16) / 8
    assert x["card_seconds_since_prev"] == 3599.999
    assert x["card_amount_over_mean_30d"] == pytest.approx(16 / 116.375)


def test_card_windows_are_per_card() -> None:
    transactions = _transactions(
        ("a", 0, "k1", "m", 10.0),
        ("b", MINUTE_MS, "k2", "m", 20.0),
        ("c", 2 * MINUTE_MS, "k1", "m", 30.0),
    )
    features = compute_features(transactions)
    assert _column(features, "card_tx_count_1h") == [1.0, 1.0, 2.0]
    assert _column(features, "card_amount_mean_1h") == [10.0, 20.0, 20.0]
    assert _column(features, "card_seconds_since_prev") == [-1.0, -1.0, 120.0]
    assert _column(features, "merchant_tx_count_1d") == [1.0, 2.0, 3.0]


def test_amounts_are_summed_in_cents() -> None:
    transactions = _transactions(("a", 0, "k", None, 0.1), ("b", 1, "k", None, 0.2))
    features = compute_features(transactions)
    # 30 cents / 100 / 2; summing the floats would give (0.1 + 0.2) / 2 = 0.15000000000000002
    assert _column(features, "card_amount_mean_1h") == [0.1, 0.15]
    assert features["card_amount_over_mean_30d"].iloc[1] == 0.2 / 0.15


def test_amount_over_mean_is_one_when_the_mean_is_zero() -> None:
    transactions = _transactions(("a", 0, "k", None, 0.0), ("b", 1, "k", None, 0.0))
    features = compute_features(transactions)
    assert _column(features, "card_amount_mean_30d") == [0.0, 0.0]
    assert _column(features, "card_amount_over_mean_30d") == [1.0, 1.0]


# --- seconds since the previous transaction ------------------------------------------------


def test_seconds_since_prev_first_later_and_tie() -> None:
    transactions = _transactions(
        ("a", 0, "k", None, 1.0),
        ("b", 5_000, "k", None, 1.0),
        ("c", 5_000, "k", None, 1.0),  # same millisecond as b
    )
    features = compute_features(transactions)
    assert _column(features, "card_seconds_since_prev") == [-1.0, 5.0, 0.0]
    # b did not see c (it arrived later), c sees a, b and itself.
    assert _column(features, "card_tx_count_1h") == [1.0, 2.0, 3.0]


def test_event_times_are_floored_to_milliseconds() -> None:
    transactions = pd.DataFrame(
        {
            "transaction_id": ["a", "b"],
            "event_time": pd.Series(
                [T0 + pd.Timedelta(1_000_000, unit="ns"), T0 + pd.Timedelta(1_999_999, unit="ns")],
                dtype="datetime64[ns, UTC]",
            ),
            "card_id": ["k", "k"],
            "merchant_id": [None, None],
            "amount": [1.0, 1.0],
        }
    )
    features = compute_features(transactions)
    assert _column(features, "card_seconds_since_prev") == [-1.0, 0.0]


def test_event_times_in_other_units_and_zones() -> None:
    frame = _transactions(("a", 0, "k", None, 1.0), ("b", 1_500, "k", None, 1.0))
    other = frame.assign(
        event_time=frame["event_time"].astype("datetime64[us, UTC]").dt.tz_convert("Asia/Tokyo")
    )
    features = compute_features(other)
    assert _column(features, "card_seconds_since_prev") == [-1.0, 1.5]
    assert _column(features, "hour_of_day") == [0.0, 0.0]  # UTC hour, not Tokyo's


# --- out of order within the lateness --------------------------------------------------


def test_out_of_order_within_lateness_is_recorded_at_its_event_time() -> None:
    transactions = _transactions(
        ("a", 10 * HOUR_MS, "k", "m", 10.0),
        ("b", 12 * HOUR_MS, "k", "m", 20.0),
        ("c", 11 * HOUR_MS, "k", "m", 30.0),  # arrives after b, 1 h behind it
        ("d", 12 * HOUR_MS + 30 * MINUTE_MS, "k", "m", 40.0),
    )
    features = compute_features(transactions)
    assert _flags(features) == [(False, False)] * 4
    # c: a (exactly 1 h before) is out of its 1 h window; b is after c's time.
    assert _column(features, "card_tx_count_1h") == [1.0, 1.0, 1.0, 2.0]
    assert _column(features, "card_tx_count_1d") == [1.0, 2.0, 2.0, 4.0]
    assert _column(features, "card_amount_mean_1d") == [10.0, 15.0, 20.0, 25.0]
    assert _column(features, "card_seconds_since_prev") == [-1.0, 7200.0, 3600.0, 1800.0]
    assert _column(features, "merchant_tx_count_1d") == [1.0, 2.0, 2.0, 4.0]


def test_exactly_lateness_behind_is_recorded_one_ms_more_is_too_late() -> None:
    transactions = _transactions(
        ("a", 5 * DAY_MS, "k", None, 1.0),
        ("b", 4 * DAY_MS, "k", None, 2.0),  # exactly L behind: recorded
        ("c", 4 * DAY_MS - 1, "k", None, 4.0),  # 1 ms more: too late
        ("d", 5 * DAY_MS + 1, "k", None, 8.0),
    )
    features = compute_features(transactions)
    assert _flags(features) == [(False, False), (False, False), (False, True), (False, False)]
    # c sees neither a nor b (both after its time), d sees a and b but not c
    assert _column(features, "card_tx_count_30d") == [1.0, 1.0, 1.0, 3.0]
    assert _column(features, "card_amount_mean_30d") == [1.0, 2.0, 4.0, 11 / 3]


# --- too late ------------------------------------------------------------------------------


def test_too_late_is_not_recorded_but_counts_itself() -> None:
    transactions = _transactions(
        ("z", 2 * DAY_MS + 12 * HOUR_MS, "k", "m", 5.0),
        ("a", 5 * DAY_MS, "k", "m", 10.0),
        ("b", 3 * DAY_MS, "k", "m", 20.0),  # 2 days behind a: too late
        ("c", 5 * DAY_MS + HOUR_MS, "k", "m", 30.0),
    )
    features = compute_features(transactions)
    assert _flags(features) == [(False, False), (False, False), (False, True), (False, False)]
    b, c = features.iloc[2], features.iloc[3]
    assert b["card_tx_count_1h"] == 1.0  # itself
    assert b["card_tx_count_1d"] == 2.0  # z and itself
    assert b["card_tx_count_30d"] == 2.0  # a is after b's time
    assert b["card_amount_mean_1d"] == 12.5
    assert b["card_seconds_since_prev"] == 12 * 3600.0
    assert b["card_amount_over_mean_30d"] == 20 / 12.5
    assert b["merchant_tx_count_1d"] == 2.0
    # later transactions do not see b
    assert c["card_tx_count_30d"] == 3.0  # z, a, c
    assert c["card_amount_mean_30d"] == 15.0
    assert c["merchant_tx_count_30d"] == 3.0


def test_too_late_for_the_merchant_only_is_recorded_for_the_card() -> None:
    transactions = _transactions(
        ("a", 5 * DAY_MS, "k1", "m", 10.0),
        ("b", 3 * DAY_MS, "k2", "m", 20.0),  # too late for m, first for k2
        ("c", 3 * DAY_MS + HOUR_MS, "k2", "m", 30.0),  # too late for m as well
        ("d", 5 * DAY_MS + 1, "k3", "m", 40.0),
    )
    features = compute_features(transactions)
    assert _flags(features) == [(False, False), (False, True), (False, True), (False, False)]
    assert _column(features, "card_tx_count_1d") == [1.0, 1.0, 2.0, 1.0]  # c sees b
    assert _column(features, "merchant_tx_count_30d") == [1.0, 1.0, 1.0, 2.0]


def test_a_replayed_too_late_transaction_is_late_again_not_a_duplicate() -> None:
    transactions = _transactions(
        ("a", 5 * DAY_MS, "k", None, 10.0),
        ("b", 3 * DAY_MS, "k", None, 20.0),
        ("b", 3 * DAY_MS, "k", None, 20.0),
    )
    features = compute_features(transactions)
    assert _flags(features) == [(False, False), (False, True), (False, True)]
    assert _column(features, "card_tx_count_30d") == [1.0, 1.0, 1.0]


# --- duplicates -------------------------------------------------------------------------


def test_duplicate_is_flagged_not_double_counted_and_read_as_of_its_time() -> None:
    transactions = _transactions(
        ("a", 10 * HOUR_MS, "k", "m", 10.0),
        ("b", 11 * HOUR_MS, "k", "m", 20.0),
        ("a", 10 * HOUR_MS, "k", "m", 10.0),  # replay of a, after b
        ("c", 11 * HOUR_MS + 30 * MINUTE_MS, "k", "m", 30.0),
    )
    features = compute_features(transactions)
    assert _flags(features) == [(False, False), (False, False), (True, False), (False, False)]
    assert _column(features, "card_tx_count_1d") == [1.0, 2.0, 1.0, 3.0]
    assert _column(features, "card_amount_mean_1d") == [10.0, 15.0, 10.0, 20.0]
    assert _column(features, "card_seconds_since_prev") == [-1.0, 3600.0, -1.0, 1800.0]
    assert _column(features, "merchant_tx_count_1d") == [1.0, 2.0, 1.0, 3.0]
    # the replay gets exactly the features the original got
    first, replay = features.iloc[0], features.iloc[2]
    assert first[list(FEATURE_NAMES)].tolist() == replay[list(FEATURE_NAMES)].tolist()


def test_duplicate_for_the_card_only() -> None:
    # The same transaction id seen at another merchant: a duplicate for the card only.
    transactions = _transactions(
        ("a", 0, "k", "m1", 10.0),
        ("a", 0, "k", "m2", 10.0),
    )
    features = compute_features(transactions)
    assert _flags(features) == [(False, False), (True, False)]
    assert _column(features, "card_tx_count_1h") == [1.0, 1.0]
    assert _column(features, "merchant_tx_count_1d") == [1.0, 1.0]


# --- trimming -------------------------------------------------------------------------------


def test_horizon_trim_makes_a_too_late_window_undercount() -> None:
    config = FeatureConfig(lateness_ms=HOUR_MS)  # card horizon 30 d + 1 h
    kept = _transactions(
        ("a", 0, "k", None, 10.0),
        ("b", 29 * DAY_MS, "k", None, 20.0),
        ("e", 25 * DAY_MS, "k", None, 40.0),  # too late; its 30 d window reaches a
    )
    trimmed = _transactions(
        ("a", 0, "k", None, 10.0),
        ("b", 29 * DAY_MS, "k", None, 20.0),
        ("c", 30 * DAY_MS + HOUR_MS + 1, "k", None, 30.0),  # a is now past the horizon
        ("e", 25 * DAY_MS, "k", None, 40.0),
    )
    with_a = compute_features(kept, config=config).iloc[-1]
    without_a = compute_features(trimmed, config=config).iloc[-1]
    assert bool(with_a["late"])
    assert bool(without_a["late"])
    assert with_a["card_tx_count_30d"] == 2.0
    assert with_a["card_amount_mean_30d"] == 25.0
    assert with_a["card_seconds_since_prev"] == 25 * 86_400.0
    assert without_a["card_tx_count_30d"] == 1.0
    assert without_a["card_amount_mean_30d"] == 40.0
    assert without_a["card_seconds_since_prev"] == -1.0


def test_horizon_keeps_one_ms_inside() -> None:
    config = FeatureConfig(lateness_ms=HOUR_MS)
    transactions = _transactions(
        ("a", 1, "k", None, 10.0),
        ("c", 30 * DAY_MS + HOUR_MS + 1, "k", None, 30.0),  # a exactly at the horizon: kept
        ("e", 25 * DAY_MS, "k", None, 40.0),
    )
    e = compute_features(transactions, config=config).iloc[-1]
    assert e["card_tx_count_30d"] == 2.0


def test_cap_drops_the_oldest_and_windows_undercount() -> None:
    config = FeatureConfig(max_events_per_entity=3)
    transactions = _transactions(
        ("a", 0, "k", "m", 1.0),
        ("b", HOUR_MS, "k", "m", 2.0),
        ("c", 2 * HOUR_MS, "k", "m", 3.0),
        ("d", 3 * HOUR_MS, "k", "m", 4.0),  # a dropped
        ("e", 4 * HOUR_MS, "k", "m", 5.0),  # b dropped
    )
    features = compute_features(transactions, config=config)
    assert _column(features, "card_tx_count_1d") == [1.0, 2.0, 3.0, 3.0, 3.0]
    assert _column(features, "card_amount_mean_1d") == [1.0, 1.5, 2.0, 3.0, 4.0]
    assert _column(features, "merchant_tx_count_30d") == [1.0, 2.0, 3.0, 3.0, 3.0]
    assert _column(features, "card_tx_count_1h") == [1.0, 1.0, 1.0, 1.0, 1.0]


def test_cap_can_drop_the_transaction_itself() -> None:
    config = FeatureConfig(max_events_per_entity=3)
    transactions = _transactions(
        ("c", 2 * HOUR_MS, "k", None, 3.0),
        ("d", 3 * HOUR_MS, "k", None, 4.0),
        ("e", 4 * HOUR_MS, "k", None, 5.0),
        ("f", 30 * MINUTE_MS, "k", None, 7.0),  # recorded, then dropped as the oldest
        ("f", 30 * MINUTE_MS, "k", None, 7.0),  # so its replay is not a duplicate
        ("g", 5 * HOUR_MS, "k", None, 6.0),
    )
    features = compute_features(transactions, config=config)
    assert _flags(features) == [(False, False)] * 6
    assert _column(features, "card_tx_count_1d") == [1.0, 2.0, 3.0, 1.0, 1.0, 3.0]
    assert _column(features, "card_amount_mean_1d") == [3.0, 3.5, 4.0, 7.0, 7.0, 5.0]
    assert _column(features, "card_seconds_since_prev") == [
        -1.0,
        3600.0,
        3600.0,
        -1.0,
        -1.0,
        3600.0,
    ]


def test_cap_breaks_time_ties_by_transaction_id() -> None:
    config = FeatureConfig(max_events_per_entity=2)
    transactions = _transactions(
        ("b", 0, "k", None, 1.0),
        ("a", 0, "k", None, 2.0),
        ("c", HOUR_MS, "k", None, 4.0),  # drops (0, "a"), keeps (0, "b")
        ("b", 0, "k", None, 1.0),  # still kept: a duplicate
        ("a", 0, "k", None, 2.0),  # gone: recorded again, and dropped again
    )
    features = compute_features(transactions, config=config)
    assert _flags(features)[3:] == [(True, False), (False, False)]
    assert _column(features, "card_tx_count_1d") == [1.0, 2.0, 2.0, 1.0, 2.0]
    assert _column(features, "card_amount_mean_1d") == [1.0, 1.5, 2.5, 1.0, 1.5]


# --- merchant fraud share ----------------------------------------------------------------

_SHARE_CONFIG = FeatureConfig(label_delay_ms=DAY_MS)
_X_MS = 2 * DAY_MS + HOUR_MS  # x's 1 d share window is [1 h, 1 d + 1 h)


def _share_transactions() -> pd.DataFrame:
    return _transactions(
        ("before_lo", HOUR_MS - 1, "k1", "m", 1.0),  # fraud, 1 ms before lo: out of 1 d
        ("at_lo", HOUR_MS, "k2", "m", 1.0),  # fraud, at lo: in
        ("genuine", 2 * HOUR_MS, "k3", "m", 1.0),
        ("at_hi", DAY_MS + HOUR_MS, "k4", "m", 1.0),  # fraud, at hi: out
        ("x", _X_MS, "k5", "m", 1.0),
        ("y", _X_MS, "k6", "m", 1.0),
    )


def _share_labels(known_before: int) -> pd.DataFrame:
    return _labels(
        ("before_lo", "m", HOUR_MS - 1, known_before),
        ("at_lo", "m", HOUR_MS, known_before),
        ("at_hi", "m", DAY_MS + HOUR_MS, known_before),
    )


def test_fraud_share_windows_are_closed_open_and_delayed() -> None:
    features = compute_features(_share_transactions(), _share_labels(4), _SHARE_CONFIG)
    x = features.iloc[4]
    assert x["merchant_fraud_share_1d"] == 0.5  # at_lo / (at_lo, genuine)
    assert x["merchant_fraud_share_7d"] == pytest.approx(2 / 3)  # + before_lo
    assert x["merchant_fraud_share_30d"] == pytest.approx(2 / 3)
    assert x["merchant_tx_count_1d"] == 1.0  # at_hi is exactly 1 d before x: out
    assert x["merchant_tx_count_7d"] == 5.0


def test_fraud_share_counts_only_reports_delivered_before_the_transaction() -> None:
    features = compute_features(_share_transactions(), _share_labels(5), _SHARE_CONFIG)
    assert _column(features, "merchant_fraud_share_1d")[4:] == [0.0, 0.5]
    never = compute_features(_share_transactions(), _share_labels(6), _SHARE_CONFIG)
    assert _column(never, "merchant_fraud_share_7d") == [0.0] * 6


def test_fraud_share_of_each_transaction_as_of_its_time() -> None:
    # Delivered before "genuine": at_hi is not recorded yet, so its report is ignored.
    features = compute_features(_share_transactions(), _share_labels(2), _SHARE_CONFIG)
    # Rows 0-2 have no transaction at least 1 d older than them: 0. at_hi's windows end
    # at 1 h, so they hold before_lo (a fraud) but not at_lo.
    assert _column(features, "merchant_fraud_share_1d") == [0.0, 0.0, 0.0, 1.0, 0.5, 0.5]
    assert _column(features, "merchant_fraud_share_7d") == pytest.approx(
        [0.0, 0.0, 0.0, 1.0, 2 / 3, 2 / 3]
    )


def test_recent_fraud_count_takes_reports_at_once_over_the_last_week() -> None:
    # Reports delivered before "genuine" (position 2): before_lo and at_lo count for
    # every later transaction within 7 d of them, undelayed; at_hi, not yet recorded
    # then, never counts.
    features = compute_features(_share_transactions(), _share_labels(2), _SHARE_CONFIG)
    assert _column(features, "merchant_fraud_count_7d") == [0.0, 0.0, 2.0, 2.0, 2.0, 2.0]
    # Delivered before x: x and y see all three; a week after before_lo, it drops out.
    late = compute_features(_share_transactions(), _share_labels(4), _SHARE_CONFIG)
    assert _column(late, "merchant_fraud_count_7d")[3:] == [0.0, 3.0, 3.0]
    week = _transactions(("f", 0, "k1", "m", 1.0), ("x", 7 * DAY_MS, "k2", "m", 1.0))
    reported = _labels(("f", "m", 0, 1))
    assert _column(compute_features(week, reported, _SHARE_CONFIG), "merchant_fraud_count_7d") == [
        0.0,
        0.0,
    ]


def test_fraud_report_for_a_transaction_never_recorded_is_ignored() -> None:
    config = FeatureConfig(label_delay_ms=DAY_MS, lateness_ms=HOUR_MS)
    transactions = _transactions(
        ("c", DAY_MS + HOUR_MS, "k1", "m", 1.0),
        ("w", 3 * DAY_MS - HOUR_MS, "k2", "m", 1.0),
        ("z", DAY_MS + 2 * HOUR_MS, "k3", "m", 1.0),  # too late: never recorded
        ("x", 3 * DAY_MS, "k4", "m", 1.0),  # 1 d share window [1 d, 2 d)
    )
    labels = _labels(
        ("z", "m", DAY_MS + 2 * HOUR_MS, 3),
        ("c", "other", DAY_MS + HOUR_MS, 3),  # wrong merchant
        ("nope", "m", DAY_MS + HOUR_MS, 3),  # unknown transaction
        ("c", None, DAY_MS + HOUR_MS, 3),  # no merchant
    )
    features = compute_features(transactions, labels, config)
    assert _flags(features)[2] == (False, True)
    assert features["merchant_fraud_share_1d"].iloc[3] == 0.0
    # The same report for c (recorded) does count.
    counted = compute_features(transactions, _labels(("c", "m", DAY_MS + HOUR_MS, 3)), config)
    assert counted["merchant_fraud_share_1d"].iloc[3] == 1.0


def test_fraud_report_for_a_trimmed_transaction_is_ignored() -> None:
    config = FeatureConfig(label_delay_ms=DAY_MS, lateness_ms=HOUR_MS)  # horizon 31 d + 1 h
    transactions = _transactions(
        ("old", 0, "k1", "m", 1.0),
        ("keep", 10 * DAY_MS, "k2", "m", 1.0),
        ("new", 31 * DAY_MS + HOUR_MS + 1, "k3", "m", 1.0),  # old is past the horizon
        ("probe", 20 * DAY_MS, "k4", "m", 1.0),  # too late; 30 d window [-11 d, 19 d)
    )
    after_trim = _labels(("old", "m", 0, 3))
    features = compute_features(transactions, after_trim, config)
    assert bool(features["late"].iloc[3])
    assert features["merchant_fraud_share_30d"].iloc[3] == 0.0  # keep only, not a fraud
    assert features["merchant_tx_count_30d"].iloc[3] == 2.0  # keep, probe
    # Reported for "keep" instead, the same probe sees it.
    reported_keep = _labels(("keep", "m", 10 * DAY_MS, 3))
    assert (
        compute_features(transactions, reported_keep, config).iloc[3]["merchant_fraud_share_30d"]
        == 1.0
    )


def test_fraud_share_is_at_most_one_when_reported_transactions_were_dropped() -> None:
    # Reports stay in the merchant's fraud set when the cap later drops their
    # transactions, so frauds can outnumber the kept transactions of a window.
    config = FeatureConfig(label_delay_ms=DAY_MS, max_events_per_entity=2)
    transactions = _transactions(
        ("a", 0, "k1", "m", 1.0),
        ("b", HOUR_MS, "k2", "m", 1.0),
        ("c", 2 * HOUR_MS, "k3", "m", 1.0),  # drops a
        ("x", DAY_MS + 3 * HOUR_MS, "k4", "m", 1.0),  # drops b; window [-21 h, 3 h)
    )
    labels = _labels(("a", "m", 0, 2), ("b", "m", HOUR_MS, 2))
    x = compute_features(transactions, labels, config).iloc[3]
    assert x["merchant_fraud_share_1d"] == 1.0  # 2 reported frauds over 1 kept (c)


def test_fraud_report_twice_counts_once() -> None:
    labels = _labels(
        ("at_lo", "m", HOUR_MS, 0),  # before m has anything: ignored
        ("at_lo", "m", HOUR_MS, 3),
        ("at_lo", "m", HOUR_MS, 4),  # again: no effect
        ("at_lo", "m", HOUR_MS, 4),
    )
    features = compute_features(_share_transactions(), labels, _SHARE_CONFIG)
    assert features["merchant_fraud_share_1d"].iloc[4] == 0.5
    assert features["merchant_fraud_share_7d"].iloc[4] == pytest.approx(1 / 3)


# --- missing entities ---------------------------------------------------------------------

_CARD_DEFAULTS = {
    "card_tx_count_1h": 0.0,
    "card_tx_count_1d": 0.0,
    "card_tx_count_7d": 0.0,
    "card_tx_count_30d": 0.0,
    "card_amount_mean_1h": 0.0,
    "card_amount_mean_1d": 0.0,
    "card_amount_mean_7d": 0.0,
    "card_amount_mean_30d": 0.0,
    "card_seconds_since_prev": -1.0,
    "card_amount_over_mean_30d": 1.0,
}
_MERCHANT_DEFAULTS = {
    "merchant_tx_count_1d": 0.0,
    "merchant_tx_count_7d": 0.0,
    "merchant_tx_count_30d": 0.0,
    "merchant_fraud_share_1d": 0.0,
    "merchant_fraud_share_7d": 0.0,
    "merchant_fraud_share_30d": 0.0,
}


def test_missing_card_or_merchant_gives_the_defaults() -> None:
    transactions = _transactions(
        ("a", 0, "k", "m", 10.0),
        ("b", 1, None, "m", 20.0),
        ("c", 2, "", "m", 30.0),
        ("d", 3, "k", "", 40.0),
        ("e", 4, "k", "m", 50.0),
    )
    transactions.loc[4, "merchant_id"] = float("nan")
    features = compute_features(transactions)
    for row in (1, 2):
        assert features.iloc[row][list(_CARD_DEFAULTS)].to_dict() == _CARD_DEFAULTS
    for row in (3, 4):
        assert features.iloc[row][list(_MERCHANT_DEFAULTS)].to_dict() == _MERCHANT_DEFAULTS
    assert _column(features, "merchant_tx_count_1d") == [1.0, 2.0, 3.0, 0.0, 0.0]
    assert _column(features, "card_tx_count_1h") == [1.0, 0.0, 0.0, 2.0, 3.0]


def test_ulb_like_frame_has_only_time_features() -> None:
    origin = pd.Timestamp("2013-09-01", tz="UTC")  # a Sunday
    transactions = pd.DataFrame(
        {
            "transaction_id": ["0", "1", "1"],
            "event_time": pd.Series(
                [origin, origin + pd.Timedelta(hours=7), origin + pd.Timedelta(days=1, hours=7)],
                dtype="datetime64[ns, UTC]",
            ),
            "card_id": [None, None, None],
            "merchant_id": [float("nan")] * 3,
            "amount": [1.0, 2.0, 3.0],
        }
    )
    features = compute_features(transactions)
    for row in range(3):
        values = features.iloc[row]
        assert values[list(_CARD_DEFAULTS)].to_dict() == _CARD_DEFAULTS
        assert values[list(_MERCHANT_DEFAULTS)].to_dict() == _MERCHANT_DEFAULTS
    assert _column(features, "hour_of_day") == [0.0, 7.0, 7.0]
    assert _column(features, "is_night") == [1.0, 0.0, 0.0]
    assert _column(features, "is_weekend") == [1.0, 1.0, 0.0]
    assert _flags(features) == [(False, False)] * 3  # no entity: nothing to duplicate


# --- time features ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2024-01-06 05:59:59.999", (5.0, 1.0, 1.0)),  # Saturday, last ms of the night
        ("2024-01-06 06:00", (6.0, 0.0, 1.0)),
        ("2024-01-07 23:30", (23.0, 0.0, 1.0)),  # Sunday
        ("2024-01-08 00:00", (0.0, 1.0, 0.0)),  # Monday
        ("2024-01-05 23:59:59.999", (23.0, 0.0, 0.0)),  # Friday
    ],
)
def test_time_features(when: str, expected: tuple[float, float, float]) -> None:
    ms = (pd.Timestamp(when, tz="UTC") - T0) // pd.Timedelta(1, unit="ms")
    features = compute_features(_transactions(("a", ms, "k", "m", 1.0))).iloc[0]
    assert (features["hour_of_day"], features["is_night"], features["is_weekend"]) == expected
