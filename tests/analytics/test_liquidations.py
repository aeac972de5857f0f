"""Liquidations: totals, ranking and histogram against plain loops; the tracker's history,
sequence numbers and bounds; real forceOrder frames through the parser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.analytics.liquidations import (
    WINDOWS,
    LiquidationTracker,
    liquidation_histogram,
    liquidation_ranking,
    liquidation_totals,
    liquidations_frame,
)
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.parsers import FrameParser
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.dtypes import LIQUIDATION_DTYPE
from tests.samples import jsonl_lines

SYMBOLS = ["BTCUSDT", "ETHUSDT", "XRPUSDT"]
NOW = 1_790_000_000_000


def registry() -> SymbolRegistry:
    return SymbolRegistry([ContractSpec(s, "0.01", "0.001") for s in SYMBOLS])


@st.composite
def liquidation_rows(draw) -> np.ndarray:
    n = draw(st.integers(0, 60))
    out = np.zeros(n, LIQUIDATION_DTYPE)
    out["sym"] = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    out["time"] = NOW - np.array(
        draw(st.lists(st.integers(-5_000, 30 * 3_600_000), min_size=n, max_size=n)), dtype=np.int64
    )
    out["long_liquidated"] = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    out["price"] = draw(st.lists(st.sampled_from([0.5, 10.0, 3000.0]), min_size=n, max_size=n))
    out["qty"] = draw(st.lists(st.integers(1, 1000), min_size=n, max_size=n))
    out["notional"] = out["price"] * out["qty"]
    return out


def naive_totals(rows: np.ndarray, now: int, span: int, min_notional: float) -> dict:
    out: dict = {}
    for r in rows:
        if not (now - span < r["time"] <= now) or r["notional"] < min_notional:
            continue
        acc = out.setdefault(SYMBOLS[r["sym"]], {"long": 0.0, "short": 0.0, "nl": 0, "ns": 0,
                                                 "largest": None})  # fmt: skip
        side = "long" if r["long_liquidated"] else "short"
        acc[side] += float(r["notional"])
        acc["nl" if side == "long" else "ns"] += 1
        best = acc["largest"]
        if (
            best is None
            or r["notional"] > best[0]
            or (r["notional"] == best[0] and r["time"] < best[1])
        ):
            acc["largest"] = (float(r["notional"]), int(r["time"]), side)
    return out


@settings(max_examples=60, deadline=None)
@given(liquidation_rows(), st.sampled_from([0.0, 1_000.0, 100_000.0]))
def test_totals_equal_a_plain_loop(rows, min_notional):
    reg = registry()
    totals = liquidation_totals(rows, NOW, min_notional=min_notional, registry=reg)
    for window, span in WINDOWS.items():
        ref = naive_totals(rows, NOW, span, min_notional)
        got = totals[totals["window"] == window].set_index("symbol")
        assert set(got.index) == set(ref)
        for symbol, acc in ref.items():
            row = got.loc[symbol]
            assert row["long_notional"] == pytest.approx(acc["long"], rel=1e-12)
            assert row["short_notional"] == pytest.approx(acc["short"], rel=1e-12)
            assert (row["long_count"], row["short_count"]) == (acc["nl"], acc["ns"])
            assert (row["largest_notional"], row["largest_time"], row["largest_side"]) == acc[
                "largest"
            ]
        ranking = liquidation_ranking(
            rows, NOW, window=window, min_notional=min_notional, registry=reg
        )
        assert list(ranking["total_notional"]) == sorted(ranking["total_notional"], reverse=True)


@settings(max_examples=60, deadline=None)
@given(liquidation_rows(), st.sampled_from([None, "ETHUSDT"]), st.integers(1, 120))
def test_histogram_equals_a_plain_loop(rows, symbol, minutes):
    hist = liquidation_histogram(rows, NOW, minutes=minutes, symbol=symbol, registry=registry())
    m_now = NOW // 60_000
    assert len(hist) == minutes + 1
    assert hist["minute"].iloc[-1] == m_now * 60_000
    for row in hist.itertuples():
        m = row.minute // 60_000
        mine = [r for r in rows if r["time"] // 60_000 == m
                and (symbol is None or SYMBOLS[r["sym"]] == symbol)]  # fmt: skip
        longs = [float(r["notional"]) for r in mine if r["long_liquidated"]]
        shorts = [float(r["notional"]) for r in mine if not r["long_liquidated"]]
        assert (row.long_count, row.short_count) == (len(longs), len(shorts))
        assert row.long_notional == pytest.approx(sum(longs), rel=1e-12)
        assert row.short_notional == pytest.approx(sum(shorts), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(liquidation_rows(), st.data())
def test_tracker_equals_pure_functions_and_streams_by_sequence(rows, data):
    reg = registry()
    tracker = LiquidationTracker(reg)
    rows = rows[np.argsort(rows["time"], kind="stable")]
    seen = 0
    streamed = []
    cuts = sorted(data.draw(st.lists(st.integers(0, len(rows)), max_size=6)))
    for batch in np.split(rows, cuts):
        tracker.update(batch)
        new = tracker.since(seen)
        streamed.append(new)
        if len(new):
            seen = int(new["seq"].iloc[-1])
    kept = rows[rows["time"] >= rows["time"].max() - tracker.history_ms] if len(rows) else rows
    frame = liquidations_frame(kept, reg)
    pd.testing.assert_frame_equal(tracker.frame(), frame)
    pd.testing.assert_frame_equal(tracker.totals(NOW), liquidation_totals(frame, NOW))
    pd.testing.assert_frame_equal(
        tracker.histogram(NOW, minutes=30), liquidation_histogram(frame, NOW, minutes=30)
    )
    # Every row is streamed once, in sequence, unless it aged out before it could be.
    all_streamed = pd.concat(streamed, ignore_index=True)
    assert list(all_streamed["seq"]) == sorted(set(all_streamed["seq"]))
    assert set(frame["time"]) <= set(all_streamed["time"])
    assert tracker.last_seq == len(rows)


def test_tracker_bounds_history_by_time_and_capacity():
    reg = registry()
    tracker = LiquidationTracker(reg, capacity=5)
    rows = np.zeros(8, LIQUIDATION_DTYPE)
    rows["time"] = NOW + np.arange(8)
    rows["notional"] = np.arange(8) * 1000.0
    tracker.update(rows)
    assert tracker.frame()["time"].tolist() == list(NOW + np.arange(3, 8))
    assert tracker.since(6)["seq"].tolist() == [7, 8]
    assert tracker.since(0, min_notional=6000.0)["seq"].tolist() == [7, 8]
    later = rows[:1].copy()
    later["time"] = NOW + 25 * 3_600_000 + 10
    tracker.update(later)
    assert tracker.frame()["time"].tolist() == [NOW + 25 * 3_600_000 + 10]
    with pytest.raises(ValueError, match="LIQUIDATION_DTYPE"):
        tracker.update(np.zeros(1, dtype=[("x", "f8")]))
    with pytest.raises(ValueError, match="unknown window"):
        liquidation_totals(tracker.frame(), NOW, windows=("2h",))


def test_real_force_order_frames_through_the_parser():
    lines = jsonl_lines("forceOrder_real_frames.jsonl")
    reg = SymbolRegistry(
        [ContractSpec("BTCUSDT", "0.10", "0.001"), ContractSpec("IOTXUSDT", "0.00001", "1")]
    )
    batch = FrameParser(reg).parse(lines)
    assert len(batch.liquidations) == 4
    tracker = LiquidationTracker(reg)
    tracker.update(batch.liquidations)
    frame = tracker.frame()
    # Line 3: BTCUSDT SELL (a long closed), ap 39021.00, z 0.288.
    row = frame[frame["time"] == 1650898329196].iloc[0]
    assert (row["symbol"], row["side"], row["price"], row["qty"]) == (
        "BTCUSDT",
        "long",
        39021.0,
        0.288,
    )
    assert row["notional"] == pytest.approx(39021.0 * 0.288)
    now = 1650898336320  # the last frame's T
    totals = tracker.totals(now, windows=("1h",)).set_index("symbol")
    assert totals.loc["BTCUSDT", "long_count"] == 2
    assert totals.loc["BTCUSDT", "long_notional"] == pytest.approx(
        39021.0 * 0.288 + 38986.5 * 0.004
    )
    assert totals.loc["BTCUSDT", "largest_notional"] == pytest.approx(39021.0 * 0.288)
    assert list(totals.index) == ["BTCUSDT"]  # the 2020 and 2021 frames are outside the hour


@settings(max_examples=30, deadline=None)
@given(liquidation_rows(), st.lists(st.integers(-10_000, 25 * 3_600_000), min_size=1, max_size=12))
def test_tracker_snapshots_follow_the_clock_and_the_rows(rows, steps):
    """Totals and histogram are kept between reads; at any later clock, and after new rows,
    they equal the pure functions on the rows held (rows enter and leave windows meanwhile)."""
    reg = registry()
    tracker = LiquidationTracker(reg)
    rows = rows[np.argsort(rows["time"], kind="stable")]
    half = len(rows) // 2
    tracker.update(rows[:half])
    now = NOW
    for i, step in enumerate(sorted(steps)):
        if i == len(steps) // 2:
            tracker.update(rows[half:])
        now = NOW + step
        frame = tracker.frame()
        for floor in (0.0, 5_000.0):
            pd.testing.assert_frame_equal(
                tracker.totals(now, min_notional=floor),
                liquidation_totals(frame, now, min_notional=floor),
            )
        pd.testing.assert_frame_equal(
            tracker.histogram(now, minutes=60), liquidation_histogram(frame, now, minutes=60)
        )
