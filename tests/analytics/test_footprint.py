"""Footprint against a plain-Python reference, its invariants, and the minute profile, on random tapes and on the real BTCUSDT trades."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.analytics.footprint import (
    TIMEFRAMES_MS,
    build_footprint,
    footprint_from_profile,
)
from pipelines.analytics.profile import MinuteProfile, minute_profile, profile_from_records
from pipelines.binance.archive import read_agg_trades_csv, trades_from_frame
from pipelines.records.dtypes import TRADE_DTYPE
from tests.analytics.reference import naive_footprint
from tests.analytics.strategies import BTC, as_frame, tapes
from tests.samples import sample

APPROX_CSV = "DERIVED_APPROX_BTCUSDT-aggTrades-2024-08-08_2354-0000UTC_from_ws_trade.csv"
REAL_6_ROWS = "BTCUSDT-aggTrades-2025-10-22_first6rows_data.binance.vision.csv"
TIMEFRAMES = list(TIMEFRAMES_MS)


def compare_with_reference(fp, records, spec, tf, bin_ticks, ratio=3.0, min_steps=1):
    """Assert a footprint equals the naive reference, value by value, in grid units and floats."""
    tape = [
        (int(r["time"]), int(r["price"]), int(r["qty"]), bool(r["buyer_maker"])) for r in records
    ]
    ref_levels, ref_bars = naive_footprint(tape, TIMEFRAMES_MS[tf], bin_ticks, ratio, min_steps)
    levels = fp.levels
    level_ids = spec.price_to_ticks(levels["price"].to_numpy()) // bin_ticks
    got = {
        (int(b), int(lv)): row
        for b, lv, row in zip(levels["bar_time"], level_ids, levels.itertuples(), strict=True)
    }
    assert set(got) == set(ref_levels)
    for key, ref in ref_levels.items():
        row = got[key]
        assert spec.qty_to_steps(row.bid_volume) == ref["bid"]
        assert spec.qty_to_steps(row.ask_volume) == ref["ask"]
        assert row.bid_volume == spec.steps_to_qty(ref["bid"])  # one exact float conversion
        assert row.price == spec.ticks_to_price(key[1] * bin_ticks)
        assert (row.bid_trades, row.ask_trades) == (ref["bid_n"], ref["ask_n"])
        assert (row.buy_imbalance, row.sell_imbalance) == (ref["buy_imb"], ref["sell_imb"])
        assert (row.stacked_buy, row.stacked_sell) == (ref["stacked_buy"], ref["stacked_sell"])
    bars = fp.bars.set_index("bar_time")
    assert list(bars.index) == sorted(ref_bars)
    for bar_time, ref in ref_bars.items():
        bar = bars.loc[bar_time]
        for col in ("open", "high", "low", "close"):
            assert bar[col] == spec.ticks_to_price(ref[col])
        for col, key in (("buy_volume", "buy"), ("sell_volume", "sell"), ("max_delta", "max_delta"),
                         ("min_delta", "min_delta"), ("cvd", "cvd")):  # fmt: skip
            assert bar[col] == spec.steps_to_qty(ref[key]), col
        assert bar["delta"] == spec.steps_to_qty(ref["buy"] - ref["sell"])
        assert bar["trades"] == ref["trades"]
        assert bar["poc"] == spec.ticks_to_price(ref["poc"] * bin_ticks)
        assert bar["value_area_low"] == spec.ticks_to_price(ref["va_low"] * bin_ticks)
        assert bar["value_area_high"] == spec.ticks_to_price(ref["va_high"] * bin_ticks)


@settings(max_examples=60, deadline=None)
@given(
    tapes(),
    st.sampled_from(TIMEFRAMES),
    st.integers(1, 12),
    st.sampled_from([1.5, 3.0, 4.0]),
    st.integers(0, 40),
)
def test_footprint_equals_naive_reference(records, tf, bin_ticks, ratio, min_steps):
    frame = as_frame(records)
    fp = build_footprint(
        frame,
        tick_size="0.10",
        step_size="0.001",
        price_bin_ticks=bin_ticks,
        timeframe=tf,
        imbalance_ratio=ratio,
        imbalance_min_volume=min_steps * 0.001,
    )
    compare_with_reference(fp, records, BTC, tf, bin_ticks, ratio, max(min_steps, 1))


@settings(max_examples=40, deadline=None)
@given(tapes(), st.integers(1, 30), st.integers(1, 30), st.sampled_from(TIMEFRAMES))
def test_rebinning_a_b_a_is_identical_and_sums_are_exact(records, bin_a, bin_b, tf):
    frame = as_frame(records)
    first = build_footprint(frame, tick_size="0.10", price_bin_ticks=bin_a, timeframe=tf)
    other = build_footprint(frame, tick_size="0.10", price_bin_ticks=bin_b, timeframe="1m")
    again = build_footprint(frame, tick_size="0.10", price_bin_ticks=bin_a, timeframe=tf)
    pdt.assert_frame_equal(first.levels, again.levels)
    pdt.assert_frame_equal(first.bars, again.bars)
    for fp in (first, other):
        sold = records["buyer_maker"]
        assert (
            BTC.qty_to_steps(fp.levels["bid_volume"].to_numpy()).sum() == records["qty"][sold].sum()
        )
        assert (
            BTC.qty_to_steps(fp.levels["ask_volume"].to_numpy()).sum()
            == records["qty"][~sold].sum()
        )
        assert fp.levels["bid_trades"].sum() + fp.levels["ask_trades"].sum() == len(records)
        assert fp.bars["trades"].sum() == len(records)


@settings(max_examples=40, deadline=None)
@given(tapes(), st.integers(1, 20), st.sampled_from(TIMEFRAMES))
def test_profile_gives_the_same_footprint_as_trades(records, bin_ticks, tf):
    frame = as_frame(records)
    direct = build_footprint(frame, tick_size="0.10", price_bin_ticks=bin_ticks, timeframe=tf)
    profile = minute_profile(frame, tick_size="0.10")
    built = footprint_from_profile(profile, bin_ticks, tf)
    pdt.assert_frame_equal(direct.levels, built.levels)
    pdt.assert_frame_equal(direct.bars, built.bars)
    # Rows in any order are put back in trade order (time, then aggTrade id) first.
    shuffled = frame.iloc[::-1]
    again = build_footprint(shuffled, tick_size="0.10", price_bin_ticks=bin_ticks, timeframe=tf)
    pdt.assert_frame_equal(direct.levels, again.levels)
    pdt.assert_frame_equal(direct.bars, again.bars)
    np.testing.assert_array_equal(
        minute_profile(shuffled, tick_size="0.10").minutes, profile.minutes
    )


@settings(max_examples=30, deadline=None)
@given(tapes(sym=0), tapes(sym=1), st.data())
def test_profiles_of_minute_ranges_concatenate_losslessly(btc, eth, data):
    cut = data.draw(st.integers(0, len(btc)))
    # Cut on a minute boundary so that each part holds whole minutes.
    boundary = btc["time"][cut - 1] // 60_000 * 60_000 + 60_000 if cut else btc["time"][0]
    before = btc[btc["time"] < boundary]
    after = btc[btc["time"] >= boundary]
    joined = MinuteProfile.concat(
        BTC, [profile_from_records(before, BTC), profile_from_records(after, BTC)]
    )
    whole = profile_from_records(btc, BTC)
    np.testing.assert_array_equal(joined.levels, whole.levels)
    np.testing.assert_array_equal(joined.minutes, whole.minutes)
    if len(before) and len(after):
        with pytest.raises(ValueError, match="overlap"):
            MinuteProfile.concat(
                BTC, [profile_from_records(after, BTC), profile_from_records(before, BTC)]
            )


def _one_bar(rows: list[tuple[int, int, bool]], **kwargs) -> pd.DataFrame:
    """Levels of one bar from (price_ticks, qty_steps, taker_sold) trades, step 1."""
    frame = pd.DataFrame(
        {
            "agg_trade_id": range(len(rows)),
            "price": [p for p, _, _ in rows],
            "quantity": [q for _, q, _ in rows],
            "first_trade_id": range(len(rows)),
            "last_trade_id": range(len(rows)),
            "transact_time": 60_000,
            "is_buyer_maker": [s for _, _, s in rows],
        }
    )
    fp = build_footprint(frame, tick_size="1", step_size="1", **kwargs)
    return fp.levels.set_index("price")


def test_zero_opposite_side_rule():
    # Level 10: asks 5, nothing traded at 9 -> buy imbalance only if 5 >= min volume.
    # Level 11: bids 2, asks at 12 are 0 (12 traded only bids) -> sell imbalance iff 2 >= min.
    rows = [(10, 5, False), (11, 2, True), (12, 4, True)]
    levels = _one_bar(rows)
    assert levels.loc[10, "buy_imbalance"]
    assert levels.loc[11, "sell_imbalance"]
    assert not levels.loc[11, "buy_imbalance"]  # no asks at 11: own side zero, never imbalanced
    strict = _one_bar(rows, imbalance_min_volume=3)
    assert strict.loc[10, "buy_imbalance"]
    assert not strict.loc[11, "sell_imbalance"]
    assert strict.loc[12, "sell_imbalance"]  # top level: no level above, 4 >= 3


def test_diagonal_ratio_and_stacked_runs():
    # asks at p vs bids at p-1, ratio 3: 9 >= 3*3 yes, 8 >= 3*3 no.
    rows = [(10, 3, True), (11, 9, False), (11, 3, True), (12, 8, False)]
    levels = _one_bar(rows)
    assert levels.loc[11, "buy_imbalance"]
    assert not levels.loc[12, "buy_imbalance"]
    # Four adjacent buy-imbalanced levels, then a gap, then two: only the four are stacked.
    rows = [(p, 5, False) for p in (20, 21, 22, 23, 25, 26)]
    levels = _one_bar(rows)
    assert levels["buy_imbalance"].all()
    assert list(levels["stacked_buy"]) == [True, True, True, True, False, False]
    levels = _one_bar(rows, stacked_levels=5)
    assert not levels["stacked_buy"].any()


def test_poc_and_value_area_tie_rules():
    # Volumes by level: 9:1 10:3 11:5 12:5 13:3 14:1 -> POC is the lower of the tied 11 and 12.
    rows = [(9, 1, False), (10, 3, False), (11, 5, False), (12, 5, True), (13, 3, True),
            (14, 1, False)]  # fmt: skip
    frame_bar = _bars(rows)
    assert frame_bar["poc"] == 11
    # 70 % of 18 = 12.6: 11 (5), + 12 (5 above beats 3 below) = 10, then 10 and 13 tie at 3:
    # the lower one is added -> 13 >= 12.6, area 10..12.
    assert (frame_bar["value_area_low"], frame_bar["value_area_high"]) == (10, 12)


def _bars(rows: list[tuple[int, int, bool]]) -> pd.Series:
    frame = pd.DataFrame(
        {
            "price": [p for p, _, _ in rows],
            "quantity": [q for _, q, _ in rows],
            "transact_time": 60_000,
            "is_buyer_maker": [s for _, _, s in rows],
        }
    )
    return build_footprint(frame, tick_size="1", step_size="1").bars.iloc[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"price_bin_ticks": 0}, "price_bin_ticks"),
        ({"price_bin_ticks": 2.5}, "price_bin_ticks"),
        ({"price_bin_ticks": True}, "price_bin_ticks"),
        ({"timeframe": "2m"}, "unsupported timeframe"),
        ({"timeframe": "1d"}, "unsupported timeframe"),
        ({"imbalance_ratio": 0}, "imbalance_ratio"),
        ({"imbalance_min_volume": -1}, "imbalance_min_volume"),
        ({"tick_size": "0"}, "positive"),
    ],
)
def test_invalid_parameters_raise_clear_errors(kwargs, message):
    frame = as_frame(np.zeros(1, TRADE_DTYPE))
    args = {"tick_size": "0.10", **kwargs}
    with pytest.raises(ValueError, match=message):
        build_footprint(frame, **args)


def test_empty_trades_give_empty_frames_with_the_columns():
    frame = as_frame(np.zeros(0, TRADE_DTYPE))
    fp = build_footprint(frame, tick_size="0.10", step_size="0.001")
    assert fp.levels.empty and fp.bars.empty
    assert "stacked_sell" in fp.levels and "cvd" in fp.bars


def test_real_btcusdt_trades_against_reference_and_step_inference():
    frame = read_agg_trades_csv(sample(APPROX_CSV))
    assert len(frame) == 10_447
    records = trades_from_frame(frame, BTC)
    for tf, bin_ticks in (("1m", 1), ("1m", 10), ("5m", 25), ("1h", 100)):
        # step_size omitted: inferred from the quantity decimals (0.001 for this file).
        fp = build_footprint(frame, tick_size=0.1, price_bin_ticks=bin_ticks, timeframe=tf)
        assert fp.spec.step_size.rstrip("0") == "0.001"
        compare_with_reference(fp, records, BTC, tf, bin_ticks)
        total = fp.levels["bid_volume"].sum() + fp.levels["ask_volume"].sum()
        assert BTC.qty_to_steps(total) == BTC.qty_to_steps(frame["quantity"].to_numpy()).sum()


def test_real_data_binance_vision_rows():
    frame = read_agg_trades_csv(sample(REAL_6_ROWS))
    fp = build_footprint(frame, tick_size="0.10", step_size="0.001")
    records = trades_from_frame(frame, BTC)
    compare_with_reference(fp, records, BTC, "1m", 1)
    # One bar, levels 108253.1 .. 108253.8 as in the file; taker sells 0.27+1.328+0.004+0.002+0.011.
    bar = fp.bars.iloc[0]
    assert bar["sell_volume"] == 1.615 and bar["buy_volume"] == 0.011
    assert bar["open"] == 108253.8 and bar["close"] == 108253.1
    assert bar["bar_time"] == 1761091200000
