"""Order-flow signals (`signals_from_profile`) against the plain-Python reference written from
docs/analytics.md ("## Signals"): hand-made bars for each edge case of the definitions, random
tapes of a few hours at fixed and automatic bins, and every real recorded sample with trades.

Integer columns must be equal; `strength` and `rvol` (floats made from integers) agree to 1e-12.
The hand-made tests also assert, from the doc by hand, the signal they are named after.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.analytics.profile import profile_from_records
from pipelines.analytics.signals import (
    KINDS,
    SIDES,
    SignalRules,
    bar_stats_frame,
    signal_frame,
    signals_from_profile,
)
from pipelines.analytics.tradeframe import frame_records
from pipelines.binance.archive import read_agg_trades_csv
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.dtypes import TRADE_DTYPE
from tests.analytics.signal_reference import naive_signals
from tests.samples import jsonl_lines, sample

MIN = 60_000
HOUR = 60 * MIN
T0 = 1_723_161_600_000  # 2024-08-09 00:00 UTC: a 15-minute (and hour) boundary
SPEC = ContractSpec("TESTUSDT", "0.1", "0.001")
ONE_MINUTE = ("1m",)
BIN1 = SignalRules(bin_ticks=1)

SIGNAL_KEYS = ("bar_time", "tf_ms", "bin", "kind", "side", "low", "high", "levels", "volume",
               "notional")  # fmt: skip
STAT_KEYS = ("bar_time", "tf_ms", "bin", "close", "volume", "delta", "notional", "levels",
             "buy_imbalances", "sell_imbalances")  # fmt: skip


# ---------------------------------------------------------------- helpers


def records_of(trades, sym: int = 0, first_agg: int = 1) -> np.ndarray:
    """TRADE_DTYPE records of (time, price_ticks, qty_steps, taker_sold) tuples, ids in order."""
    out = np.zeros(len(trades), TRADE_DTYPE)
    for i, (time, price, qty, sold) in enumerate(trades):
        out[i] = (sym, first_agg + i, first_agg + i, first_agg + i, time, price, qty, sold, 0)
    return out


def tape_of(records: np.ndarray) -> list[tuple[int, int, int, bool]]:
    """Records as reference tuples in trade order (time, then aggTrade id)."""
    order = np.lexsort((records["agg_id"], records["time"]))
    return [
        (int(r["time"]), int(r["price"]), int(r["qty"]), bool(r["buyer_maker"]))
        for r in records[order]
    ]


def run_code(records, spec=SPEC, timeframes=("1m", "5m", "15m"), bin_ticks=None, emit_from=None):
    rules = SignalRules(bin_ticks=bin_ticks)
    return signals_from_profile(
        profile_from_records(records, spec), timeframes=timeframes, rules=rules, emit_from=emit_from
    )


def code_signal_dicts(rows: np.ndarray) -> list[dict]:
    return [
        {"bar_time": int(r["bar_time"]), "tf_ms": int(r["tf_ms"]), "bin": int(r["bin_ticks"]),
         "kind": KINDS[r["kind"]], "side": SIDES[r["side"]], "low": int(r["low_ticks"]),
         "high": int(r["high_ticks"]), "levels": int(r["levels"]), "volume": int(r["volume"]),
         "notional": int(r["notional"]), "strength": float(r["strength"])}
        for r in rows
    ]  # fmt: skip


def code_stat_dicts(rows: np.ndarray) -> list[dict]:
    return [
        {"bar_time": int(r["bar_time"]), "tf_ms": int(r["tf_ms"]), "bin": int(r["bin_ticks"]),
         "close": int(r["close"]), "volume": int(r["volume"]), "delta": int(r["delta"]),
         "notional": int(r["notional"]), "levels": int(r["levels"]),
         "buy_imbalances": int(r["buy_imbalances"]), "sell_imbalances": int(r["sell_imbalances"]),
         "rvol": float(r["rvol"])}
        for r in rows
    ]  # fmt: skip


def close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


def assert_same(rows, bar_rows, ref_signals, ref_stats) -> None:
    """The code's rows equal the reference's: integers exactly, strength/rvol to 1e-12."""
    got = sorted(code_signal_dicts(rows), key=lambda d: tuple(d[k] for k in SIGNAL_KEYS))
    want = sorted(ref_signals, key=lambda d: tuple(d[k] for k in SIGNAL_KEYS))
    assert [tuple(d[k] for k in SIGNAL_KEYS) for d in got] == [
        tuple(d[k] for k in SIGNAL_KEYS) for d in want
    ]
    for g, w in zip(got, want, strict=True):
        assert close(g["strength"], w["strength"]), (g, w)
    got_stats = sorted(code_stat_dicts(bar_rows), key=lambda d: (d["bar_time"], d["tf_ms"]))
    want_stats = sorted(ref_stats, key=lambda d: (d["bar_time"], d["tf_ms"]))
    assert [tuple(d[k] for k in STAT_KEYS) for d in got_stats] == [
        tuple(d[k] for k in STAT_KEYS) for d in want_stats
    ]
    for g, w in zip(got_stats, want_stats, strict=True):
        assert close(g["rvol"], w["rvol"]), (g, w)


def check(trades, timeframes=ONE_MINUTE, bin_ticks=1, emit_from=None, spec=SPEC):
    """Code == reference on hand-made trades; returns the reference's (signals, stats)."""
    records = records_of(trades)
    rows, bar_rows = run_code(records, spec, timeframes, bin_ticks, emit_from)
    ref = naive_signals(tape_of(records), timeframes, bin_ticks, emit_from)
    assert_same(rows, bar_rows, *ref)
    return ref


def bar(t: int, levels: dict[int, tuple[int, int]], first: int | None = None,
        last: int | None = None) -> list[tuple[int, int, int, bool]]:  # fmt: skip
    """One bar's trades at minute open `t`: `levels` maps a tick to (taker buys, taker sells),
    in steps. The bar opens at tick `first` and closes at tick `last` (default: its lowest and
    highest tick); the other ticks trade in between, from low to high."""
    prices = sorted(levels)
    first = prices[0] if first is None else first
    last = prices[-1] if last is None else last
    order = [first, *(p for p in prices if p not in (first, last)), *([last] * (last != first))]
    out = []
    for p in order:
        buys, sells = levels[p]
        for qty, sold in ((buys, False), (sells, True)):
            if qty > 0:
                out.append((t + len(out), p, qty, sold))
    return out


def of(ref_signals, kind: str, side: str | None = None) -> list[dict]:
    return [s for s in ref_signals if s["kind"] == kind and (side is None or s["side"] == side)]


# ---------------------------------------------------------------- stacked imbalances


def test_stacked_buy_imbalance_of_three_levels_at_the_ratio():
    # A = 3 >= 3.0 x B below = 3 holds with equality on 101 and 102; 100 has nothing below.
    sig, stats = check(bar(T0, {100: (3, 1), 101: (3, 1), 102: (3, 1)}))
    [stack] = of(sig, "stacked_imbalance")
    assert (stack["side"], stack["low"], stack["high"], stack["levels"]) == ("buy", 100, 102, 3)
    assert (stack["volume"], stack["notional"]) == (9, 3 * (100 + 101 + 102))
    # Only the highest level's sells hold (against zero above).
    assert (stats[0]["buy_imbalances"], stats[0]["sell_imbalances"]) == (3, 1)


def test_no_stack_when_a_middle_level_misses_the_ratio():
    sig, stats = check(bar(T0, {100: (3, 1), 101: (2, 1), 102: (3, 1)}))
    assert of(sig, "stacked_imbalance") == []
    assert stats[0]["buy_imbalances"] == 2


def test_no_stack_of_two_levels():
    sig, _ = check(bar(T0, {100: (5, 0), 101: (5, 0)}))
    assert of(sig, "stacked_imbalance") == []


def test_zero_opposite_sides_count_as_zero():
    # 100: buys against nothing below -> buy; 101, 102: sells against no buys above -> sell.
    # A level with nothing on its own side is never imbalanced.
    _, stats = check(bar(T0, {100: (1, 0), 101: (0, 4), 102: (0, 2)}))
    assert (stats[0]["buy_imbalances"], stats[0]["sell_imbalances"]) == (1, 2)


def test_an_untraded_inner_level_breaks_a_stack():
    with_gap = {100: (5, 0), 101: (5, 0), 102: (5, 0), 104: (5, 0), 105: (5, 0)}
    sig, stats = check(bar(T0, with_gap))
    assert [(s["low"], s["high"]) for s in of(sig, "stacked_imbalance")] == [(100, 102)]
    assert stats[0]["buy_imbalances"] == 5  # 104 holds against the untraded 103's zero
    sig, _ = check(bar(T0, {**with_gap, 103: (5, 0)}))
    [stack] = of(sig, "stacked_imbalance")
    assert (stack["low"], stack["high"], stack["levels"], stack["volume"]) == (100, 105, 6, 30)


def test_stacks_touching_both_bar_edges():
    levels = {100: (5, 0), 101: (5, 0), 102: (5, 0), 103: (0, 5), 104: (0, 5), 105: (0, 5)}
    sig, _ = check(bar(T0, levels))
    stacks = {s["side"]: (s["low"], s["high"], s["volume"]) for s in of(sig, "stacked_imbalance")}
    assert stacks == {"buy": (100, 102, 15), "sell": (103, 105, 15)}


def test_two_runs_on_one_side_are_two_signals():
    levels = {p: (5, 0) for p in (100, 101, 102, 104, 105, 106)}
    sig, _ = check(bar(T0, levels))
    assert [(s["low"], s["high"]) for s in of(sig, "stacked_imbalance")] == [
        (100, 102),
        (104, 106),
    ]


# ---------------------------------------------------------------- unfinished auctions


def test_one_level_bar_is_an_unfinished_auction_at_both_ends():
    sig, _ = check(bar(T0, {100: (2, 3)}))
    got = {(s["side"], s["low"], s["levels"], s["volume"], s["notional"])
           for s in of(sig, "unfinished_auction")}  # fmt: skip
    assert got == {("high", 100, 1, 5, 500), ("low", 100, 1, 5, 500)}


def test_unfinished_auction_only_where_both_sides_traded():
    sig, _ = check(bar(T0, {100: (2, 0), 101: (1, 1), 102: (0, 3)}))
    assert of(sig, "unfinished_auction") == []
    sig, _ = check(bar(T0, {100: (2, 0), 102: (1, 4)}))
    assert [(s["side"], s["low"], s["volume"]) for s in of(sig, "unfinished_auction")] == [
        ("high", 102, 5)
    ]


# ---------------------------------------------------------------- absorption


ABSORBED_LOW = {100: (0, 30), 101: (1, 0), 102: (1, 0), 103: (1, 0), 104: (1, 0)}


def test_absorption_buy_at_the_low_with_a_high_close():
    # n = 5 traded levels, sum V = 34: B[100] x 5 = 150 >= 3 x 34; the close at 104.
    sig, _ = check(bar(T0, ABSORBED_LOW))
    [a] = of(sig, "absorption")
    assert (a["side"], a["low"], a["high"], a["levels"], a["volume"], a["notional"]) == (
        "buy", 100, 100, 1, 30, 3000,
    )  # fmt: skip


def test_absorption_with_the_close_too_low():
    # 2 (C - lo) = 2 < hi - lo = 4: no absorption; at C = 102 (4 >= 4) it holds again.
    sig, _ = check(bar(T0, ABSORBED_LOW, last=101))
    assert of(sig, "absorption") == []
    sig, _ = check(bar(T0, ABSORBED_LOW, last=102))
    assert [s["side"] for s in of(sig, "absorption")] == ["buy"]


def test_absorption_needs_three_levels_of_range():
    sig, _ = check(bar(T0, {100: (0, 30), 101: (1, 0)}))
    assert of(sig, "absorption") == []


def test_absorption_reports_only_the_levels_that_qualify():
    # n = 7, sum V = 65: 30 x 7 = 210 >= 195 at 100 and 102, not at 101 (no sells).
    levels = {100: (0, 30), 101: (1, 0), 102: (0, 30), 103: (1, 0), 104: (1, 0), 105: (1, 0),
              106: (1, 0)}  # fmt: skip
    sig, _ = check(bar(T0, levels))
    [a] = of(sig, "absorption")
    assert (a["side"], a["low"], a["high"], a["levels"], a["volume"], a["notional"]) == (
        "buy", 100, 102, 2, 60, 30 * 100 + 30 * 102,
    )  # fmt: skip


def test_absorption_at_exactly_three_times_the_mean():
    # n = 5, sum V = 10: B[100] x 5 = 30 = 3 x 10 holds (>=).
    sig, _ = check(bar(T0, {100: (0, 6), 101: (1, 0), 102: (1, 0), 103: (1, 0), 104: (1, 0)}))
    assert [(s["side"], s["volume"]) for s in of(sig, "absorption")] == [("buy", 6)]


def test_absorption_below_the_mean_threshold_is_absent():
    # B[100] x n = 20 x 5 = 100 < 3 x 35.
    sig, _ = check(bar(T0, {100: (0, 20), 101: (4, 0), 102: (4, 0), 103: (4, 0), 104: (3, 0)}))
    assert of(sig, "absorption") == []


def test_absorption_sell_at_the_high_with_a_low_close():
    levels = {100: (1, 0), 101: (1, 0), 102: (1, 0), 103: (1, 0), 104: (30, 0)}
    sig, _ = check(bar(T0, levels, first=104, last=100))
    [a] = of(sig, "absorption")
    assert (a["side"], a["low"], a["volume"], a["notional"]) == ("sell", 104, 30, 3120)
    sig, _ = check(bar(T0, levels, first=100, last=104))  # the close at the high
    assert of(sig, "absorption") == []


# ---------------------------------------------------------------- exhaustion

THINNING_BUYS = {100: (5, 0), 101: (4, 0), 102: (3, 0), 103: (2, 0), 104: (1, 0)}


def test_exhaustion_high_when_buying_thins_out_towards_the_high():
    sig, _ = check(bar(T0, THINNING_BUYS))
    [e] = of(sig, "exhaustion")
    assert (e["side"], e["low"], e["high"], e["levels"], e["volume"], e["notional"]) == (
        "high", 100, 104, 5, 15, 500 + 404 + 306 + 206 + 104,
    )  # fmt: skip


def test_exhaustion_high_with_no_buys_at_the_high():
    sig, _ = check(bar(T0, {100: (4, 0), 101: (3, 0), 102: (2, 0), 103: (1, 0), 104: (0, 1)}))
    assert [(s["side"], s["volume"]) for s in of(sig, "exhaustion")] == [("high", 10)]


def test_exhaustion_with_an_empty_level():
    levels = {p: v for p, v in THINNING_BUYS.items() if p != 102}
    sig, _ = check(bar(T0, levels))
    assert of(sig, "exhaustion") == []


def test_exhaustion_needs_a_strict_decrease():
    sig, _ = check(bar(T0, {**THINNING_BUYS, 102: (4, 0)}))
    assert of(sig, "exhaustion") == []


def test_exhaustion_low_when_selling_thins_out_towards_the_low():
    levels = {98: (7, 9), 99: (1, 1), **{100 + j: (0, 1 + j) for j in range(5)}}
    sig, _ = check(bar(T0, {p: v for p, v in levels.items() if p >= 100}))
    assert [(s["side"], s["low"], s["high"], s["volume"]) for s in of(sig, "exhaustion")] == [
        ("low", 100, 104, 15)
    ]
    sig, _ = check(bar(T0, levels))  # two more levels below: the run starts at the low
    assert of(sig, "exhaustion") == []


# ---------------------------------------------------------------- delta divergence


def test_delta_divergence_sell_on_a_higher_bar_with_negative_delta():
    before = bar(T0, {100: (1, 1), 102: (1, 1)})
    sig, _ = check(before + bar(T0 + MIN, {101: (1, 2), 103: (1, 2)}))
    [d] = of(sig, "delta_divergence")
    assert (d["bar_time"], d["side"], d["low"], d["high"], d["levels"], d["volume"]) == (
        T0 + MIN, "sell", 101, 103, 3, 2,
    )  # fmt: skip
    assert d["notional"] == abs((101 + 103) - 2 * (101 + 103))


def test_delta_divergence_buy_on_a_lower_bar_with_positive_delta():
    before = bar(T0, {100: (1, 1), 102: (1, 1)})
    sig, _ = check(before + bar(T0 + MIN, {99: (2, 1), 101: (2, 1)}))
    assert [(s["side"], s["volume"]) for s in of(sig, "delta_divergence")] == [("buy", 2)]


def test_delta_divergence_needs_the_previous_bar_to_have_traded():
    before = bar(T0, {100: (1, 1), 102: (1, 1)})
    sig, _ = check(before + bar(T0 + 2 * MIN, {101: (1, 2), 103: (1, 2)}))
    assert of(sig, "delta_divergence") == []


def test_no_delta_divergence_with_delta_along_the_move_or_an_equal_low():
    before = bar(T0, {100: (1, 1), 102: (1, 1)})
    sig, _ = check(before + bar(T0 + MIN, {101: (2, 1), 103: (2, 1)}))  # delta > 0
    assert of(sig, "delta_divergence") == []
    sig, _ = check(before + bar(T0 + MIN, {100: (1, 2), 103: (1, 2)}))  # same low
    assert of(sig, "delta_divergence") == []


def test_delta_divergence_takes_the_previous_range_on_this_bars_bin():
    # Ticks 100..103, then 101..104: higher at bin 1; at bin 2 both lows are level 50.
    trades = bar(T0, {100: (1, 1), 103: (1, 1)}) + bar(T0 + MIN, {101: (1, 2), 104: (1, 2)})
    sig, _ = check(trades, bin_ticks=1)
    assert [s["side"] for s in of(sig, "delta_divergence")] == ["sell"]
    sig, _ = check(trades, bin_ticks=2)
    assert of(sig, "delta_divergence") == []


# ---------------------------------------------------------------- naked POC


def test_poc_ties_go_to_the_lower_level():
    first = bar(T0, {100: (5, 0), 105: (0, 5)}) + bar(T0 + MIN, {120: (1, 0)})
    sig, _ = check(first + bar(T0 + 2 * MIN, {105: (1, 0), 106: (1, 0)}))
    assert of(sig, "naked_poc_touch") == []  # 105 tied with 100, and lost
    sig, _ = check(first + bar(T0 + 2 * MIN, {99: (1, 0), 100: (1, 0)}))
    [touch] = of(sig, "naked_poc_touch")
    assert (touch["bar_time"], touch["low"], touch["high"], touch["levels"]) == (
        T0 + 2 * MIN, 100, 100, 1,
    )  # fmt: skip
    assert (touch["volume"], touch["notional"], touch["side"]) == (5, 500, "high")


def test_a_poc_filled_by_the_very_next_bar_is_never_reported():
    trades = (
        bar(T0, {100: (5, 0), 101: (1, 0)})  # POC 100
        + bar(T0 + MIN, {99: (1, 0), 101: (3, 0)})  # trades through 100; its POC is 101
        + bar(T0 + 2 * MIN, {100: (1, 0)})  # 100 again: no longer naked
    )
    sig, _ = check(trades)
    assert of(sig, "naked_poc_touch") == []


def test_a_naked_poc_touched_two_bars_later_is_reported_once():
    trades = (
        bar(T0, {100: (5, 0)})
        + bar(T0 + MIN, {110: (1, 0)})
        + bar(T0 + 2 * MIN, {100: (1, 0), 101: (1, 0)}, first=101)  # opens above the POC
        + bar(T0 + 3 * MIN, {100: (1, 0)})
        + bar(T0 + 4 * MIN, {99: (1, 0)})
    )
    sig, _ = check(trades)
    touches = [(s["bar_time"], s["low"], s["side"], s["volume"], s["notional"])
               for s in of(sig, "naked_poc_touch")]  # fmt: skip
    assert touches == [(T0 + 2 * MIN, 100, "low", 5, 500)]


def test_naked_poc_side_high_when_it_reaches_the_open():
    trades = bar(T0, {100: (5, 0)}) + bar(T0 + MIN, {110: (1, 0)})
    sig, _ = check(trades + bar(T0 + 2 * MIN, {100: (1, 0), 101: (1, 0)}, first=100))
    assert [s["side"] for s in of(sig, "naked_poc_touch")] == ["high"]


def test_naked_poc_range_is_the_pocs_bin():
    # At bin 5 the POC is level 20 = ticks 100..104; a bar trading at 104 touches it.
    trades = bar(T0, {100: (5, 0)}) + bar(T0 + MIN, {110: (1, 0)})
    sig, _ = check(trades + bar(T0 + 2 * MIN, {104: (1, 0), 106: (1, 0)}), bin_ticks=5)
    assert [(s["low"], s["high"]) for s in of(sig, "naked_poc_touch")] == [(100, 100)]
    sig, _ = check(trades + bar(T0 + 2 * MIN, {104: (1, 0), 106: (1, 0)}), bin_ticks=1)
    assert of(sig, "naked_poc_touch") == []


def test_naked_pocs_older_than_24_hours_are_forgotten():
    trades = bar(T0, {100: (5, 0)}) + bar(T0 + MIN, {110: (1, 0)})
    sig, _ = check(trades + bar(T0 + 24 * HOUR, {100: (1, 0)}))
    assert [s["bar_time"] for s in of(sig, "naked_poc_touch")] == [T0 + 24 * HOUR]
    sig, _ = check(trades + bar(T0 + 24 * HOUR + MIN, {100: (1, 0)}))
    assert of(sig, "naked_poc_touch") == []


# ---------------------------------------------------------------- significance, rvol, bins


def test_strength_and_rvol_by_hand():
    trades = bar(T0, {100: (4, 0), 101: (0, 6)}) + bar(T0 + 2 * MIN, {101: (20, 10)})
    sig, stats = check(trades)
    assert math.isnan(stats[0]["rvol"])  # the first bar
    # Two slots before the second bar (one empty): mean 5, V = 30.
    assert stats[1]["rvol"] == pytest.approx(6.0, rel=1e-12)
    # Volume per traded level: (30 + 10) / (1 + 2).
    got = {(s["kind"], s["side"]): s["strength"] for s in sig if s["bar_time"] == T0 + 2 * MIN}
    assert got == pytest.approx(
        {
            ("unfinished_auction", "high"): 2.25,
            ("unfinished_auction", "low"): 2.25,
            ("naked_poc_touch", "high"): 0.45,
        },
        rel=1e-12,
    )


def test_rvol_counts_only_the_60_slots_before_and_nan_without_trades_in_them():
    trades = bar(T0, {100: (10, 0)}) + bar(T0 + 30 * MIN, {100: (20, 0)})
    trades += bar(T0 + 61 * MIN, {100: (6, 0)}) + bar(T0 + 200 * MIN, {100: (1, 0)})
    _, stats = check(trades)
    rvol = [s["rvol"] for s in stats]
    assert math.isnan(rvol[0])
    assert rvol[1] == pytest.approx(20 / (10 / 30), rel=1e-12)
    assert rvol[2] == pytest.approx(6 / (20 / 60), rel=1e-12)  # T0 fell out of the 60 slots
    assert math.isnan(rvol[3])


def test_automatic_bin_over_this_bar_and_the_15_bar_lengths_before():
    wide = bar(T0, {1000: (1, 0), 1100: (1, 0)})  # span 100: 100 // 5 + 1 = 21 rows
    _, stats = check(wide, bin_ticks=None)
    assert stats[0]["bin"] == 5
    _, stats = check(wide + bar(T0 + 15 * MIN, {1050: (1, 0)}), bin_ticks=None)
    assert [s["bin"] for s in stats] == [5, 5]
    _, stats = check(wide + bar(T0 + 16 * MIN, {1050: (1, 0)}), bin_ticks=None)
    assert [s["bin"] for s in stats] == [5, 1]
    _, stats = check(bar(T0, {1000: (1, 0), 1039: (1, 0)}), bin_ticks=None)
    assert stats[0]["bin"] == 1  # 40 rows fit
    _, stats = check(bar(T0, {1000: (1, 0), 1040: (1, 0)}), bin_ticks=None)
    assert stats[0]["bin"] == 2


def test_coarse_bars_are_made_of_their_minutes():
    trades = (
        bar(T0, {100: (3, 1), 101: (3, 1)})
        + bar(T0 + 3 * MIN, {102: (3, 1)}, first=102)
        + bar(T0 + 7 * MIN, {90: (0, 4), 95: (1, 0)})
        + bar(T0 + 16 * MIN, {100: (2, 2)})
    )
    _, stats = check(trades, timeframes=("1m", "5m", "15m"), bin_ticks=None)
    five = [(s["bar_time"], s["volume"], s["close"]) for s in stats if s["tf_ms"] == 5 * MIN]
    assert five == [(T0, 12, 102), (T0 + 5 * MIN, 5, 95), (T0 + 15 * MIN, 4, 100)]


def test_emit_from_warms_up_the_history_without_reporting_it():
    before = bar(T0, {100: (1, 1), 102: (1, 1)})
    sig, stats = check(before + bar(T0 + MIN, {101: (1, 2), 103: (1, 2)}), emit_from=T0 + MIN)
    assert [s["bar_time"] for s in stats] == [T0 + MIN]
    assert [s["side"] for s in of(sig, "delta_divergence")] == ["sell"]
    assert all(s["bar_time"] == T0 + MIN for s in sig)


def test_a_bin_change_never_reuses_an_earlier_aggregation():
    spec, records = real_sample(APPROX_CSV)
    tape = tape_of(records)
    profile = profile_from_records(records, spec)
    results = []
    for bin_ticks in (1, 25, 1):
        rows, bar_rows = signals_from_profile(profile, rules=SignalRules(bin_ticks=bin_ticks))
        assert_same(rows, bar_rows, *naive_signals(tape, bin_ticks=bin_ticks))
        results.append((rows, bar_rows))
    for name in ("rows", "bar_rows"):
        i = ("rows", "bar_rows").index(name)
        a, c = results[0][i], results[2][i]
        assert a.dtype == c.dtype and len(a) == len(c)
        assert a.tobytes() == c.tobytes()  # bit for bit, strength and rvol included
    assert not np.array_equal(results[0][1]["levels"], results[1][1]["levels"])


# ---------------------------------------------------------------- random tapes


@st.composite
def signal_tapes(draw, max_trades: int = 150):
    """(time, price_ticks, qty_steps, taker_sold) tuples over a few hours: bursts within a
    minute, gaps of minutes to an hour, price moves of a few to a few hundred ticks."""
    n = draw(st.integers(1, max_trades))
    scale = draw(st.sampled_from([1, 2, 8, 40]))
    gaps = draw(
        st.lists(
            st.one_of(
                st.just(0), st.integers(1, 5_000), st.integers(1, 4 * MIN), st.integers(1, HOUR)
            ),
            min_size=n,
            max_size=n,
        )
    )
    moves = draw(st.lists(st.integers(-2 * scale, 2 * scale), min_size=n, max_size=n))
    qty = draw(st.lists(st.one_of(st.integers(1, 6), st.integers(1, 300)), min_size=n, max_size=n))
    sells = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    start = T0 + draw(st.integers(0, 30 * MIN))
    time, price, out = start, 600_000, []
    for gap, move, q, sold in zip(gaps, moves, qty, sells, strict=True):
        time += gap
        price += move
        out.append((time, price, q, sold))
    out[0] = (start, *out[0][1:])
    # Ladders: a sweep of one taker side through 4 to 7 adjacent ticks in one millisecond with
    # strictly growing or shrinking sizes (exhaustion, absorption and stacks need them).
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(out) - 1))
        time, price = out[at][0], out[at][1]
        steps = draw(st.integers(4, 7))
        way = draw(st.sampled_from([-1, 1]))
        grow = draw(st.sampled_from([-1, 1])) * draw(st.integers(1, 5))
        base = draw(st.integers(1, 40)) + (steps * 5 if grow < 0 else 0)
        sold = draw(st.booleans())
        ladder = [(time, price + way * j, base + grow * j, sold) for j in range(1, steps + 1)]
        out[at + 1 : at + 1] = ladder
    return out


@settings(max_examples=150, deadline=None)
@given(
    signal_tapes(),
    st.sampled_from([None, None, 1, 2, 5, 7]),
    st.integers(0, 6),
    st.one_of(st.none(), st.integers(0, 3 * HOUR)),
)
def test_random_tapes_equal_the_reference(trades, bin_ticks, sym, emit_offset):
    records = records_of(trades, sym=sym)
    emit_from = None if emit_offset is None else T0 + emit_offset
    rules = SignalRules(bin_ticks=bin_ticks)
    profile = profile_from_records(records, SPEC)
    rows, bar_rows = signals_from_profile(profile, sym=sym, rules=rules, emit_from=emit_from)
    assert np.all(rows["sym"] == sym) and np.all(bar_rows["sym"] == sym)
    assert_same(rows, bar_rows, *naive_signals(trades, bin_ticks=bin_ticks, emit_from=emit_from))


# ---------------------------------------------------------------- real recorded trades

APPROX_CSV = "DERIVED_APPROX_BTCUSDT-aggTrades-2024-08-08_2354-0000UTC_from_ws_trade.csv"
TRADES_CSV = "DERIVED_BTCUSDT-trades-2024-08-08_2354-0000UTC_from_ws_trade.csv"
REAL_6_ROWS = "BTCUSDT-aggTrades-2025-10-22_first6rows_data.binance.vision.csv"
TRADE_JSONL = "hftbacktest_2024-08-08_btcusdt_trade.jsonl"
CRYPTOFEED = ("AKROUSDT", "CTKUSDT", "KEEPUSDT", "SUSHIUSDT")
BTC_2024 = ("0.10", "0.001")  # BTCUSDT's PRICE_FILTER / LOT_SIZE


def cryptofeed_grid(symbol: str) -> tuple[str, str]:
    info = json.loads(sample("cryptofeed_2021-07-21_exchangeInfo.json").read_text())
    [entry] = [s for s in info["symbols"] if s["symbol"] == symbol]
    filters = {f["filterType"]: f for f in entry["filters"]}
    return filters["PRICE_FILTER"]["tickSize"], filters["LOT_SIZE"]["stepSize"]


def trade_jsonl_frame() -> pd.DataFrame:
    """The `<s>@trade` frames as one-trade aggTrades: the taker sold when `m` (buyer maker)."""
    data = [json.loads(line)["data"] for line in jsonl_lines(TRADE_JSONL)]
    assert all(d["e"] == "trade" for d in data)
    return pd.DataFrame(
        {
            "agg_trade_id": [d["t"] for d in data],
            "price": [float(d["p"]) for d in data],
            "quantity": [float(d["q"]) for d in data],
            "first_trade_id": [d["t"] for d in data],
            "last_trade_id": [d["t"] for d in data],
            "transact_time": [d["T"] for d in data],
            "is_buyer_maker": [bool(d["m"]) for d in data],
        }
    )


def trades_csv_frame() -> pd.DataFrame:
    """The futures *trades* layout (id, price, qty, quote_qty, time, is_buyer_maker), each
    trade as a one-trade aggTrade."""
    raw = pd.read_csv(sample(TRADES_CSV), dtype={"is_buyer_maker": str})
    return pd.DataFrame(
        {
            "agg_trade_id": raw["id"],
            "price": raw["price"],
            "quantity": raw["qty"],
            "first_trade_id": raw["id"],
            "last_trade_id": raw["id"],
            "transact_time": raw["time"],
            "is_buyer_maker": raw["is_buyer_maker"].str.lower() == "true",
        }
    )


def real_sample(name: str):
    """(spec, records) of one real sample on its contract's grid."""
    if name == TRADE_JSONL:
        return frame_records(trade_jsonl_frame(), tick_size="0.10", step_size="0.001",
                             symbol="BTCUSDT")  # fmt: skip
    if name == TRADES_CSV:
        return frame_records(trades_csv_frame(), tick_size="0.10", step_size="0.001",
                             symbol="BTCUSDT")  # fmt: skip
    frame = read_agg_trades_csv(sample(name))
    symbol = name.split("_")[-3].split("-")[0] if name.startswith("cryptofeed") else "BTCUSDT"
    tick, step = cryptofeed_grid(symbol) if name.startswith("cryptofeed") else BTC_2024
    return frame_records(frame, tick_size=tick, step_size=step, symbol=symbol)


REAL_SAMPLES = [APPROX_CSV, TRADES_CSV, REAL_6_ROWS, TRADE_JSONL,
                *(f"cryptofeed_2021-07-22_{s}-aggTrades_from_ws.csv" for s in CRYPTOFEED)]  # fmt: skip


def test_the_two_renderings_of_the_raw_trades_agree():
    _, from_jsonl = real_sample(TRADE_JSONL)
    _, from_csv = real_sample(TRADES_CSV)
    assert len(from_jsonl) == 21_313
    for col in ("agg_id", "time", "price", "qty", "buyer_maker"):
        np.testing.assert_array_equal(from_jsonl[col], from_csv[col])


@pytest.mark.parametrize("bin_ticks", [1, None, 50])
@pytest.mark.parametrize("name", REAL_SAMPLES)
def test_real_samples_equal_the_reference(name, bin_ticks):
    spec, records = real_sample(name)
    assert len(records) > 0
    rows, bar_rows = run_code(records, spec, bin_ticks=bin_ticks)
    signals, stats = naive_signals(tape_of(records), bin_ticks=bin_ticks)
    assert_same(rows, bar_rows, signals, stats)
    assert len(stats) >= 3  # every timeframe has at least one bar


def test_frames_carry_the_reference_in_floats():
    """`signal_frame`/`bar_stats_frame`: names, prices, base and quote units of the reference,
    and `delta_pct` = 100 x delta / volume."""
    spec, records = real_sample(APPROX_CSV)
    registry = SymbolRegistry([spec])
    rows, bar_rows = run_code(records, spec)
    signals, stats = naive_signals(tape_of(records))
    key = ("bar_time", "tf_ms", "kind", "side", "low", "high", "volume")
    signals = sorted(signals, key=lambda d: tuple(d[k] for k in key))
    frame = signal_frame(rows, registry)
    frame["tf_ms"] = frame["timeframe"].map({"1m": MIN, "5m": 5 * MIN, "15m": 15 * MIN})
    frame["low"] = spec.price_to_ticks(frame["price_low"].to_numpy())
    frame["high"] = spec.price_to_ticks(frame["price_high"].to_numpy())
    frame["steps"] = spec.qty_to_steps(frame["volume"].to_numpy())
    frame = frame.sort_values(["bar_time", "tf_ms", "kind", "side", "low", "high", "steps"])
    assert len(frame) == len(signals) > 0
    quote = float(spec.tick_size) * float(spec.step_size)
    for row, ref in zip(frame.itertuples(), signals, strict=True):
        assert (row.bar_time, row.tf_ms, row.kind, row.side) == tuple(
            ref[k] for k in ("bar_time", "tf_ms", "kind", "side")
        )
        assert row.symbol == "BTCUSDT" and row.bin_ticks == ref["bin"]
        assert row.price_low == spec.ticks_to_price(ref["low"])
        assert row.price_high == spec.ticks_to_price(ref["high"])
        assert row.volume == spec.steps_to_qty(ref["volume"])
        assert row.notional == pytest.approx(ref["notional"] * quote, rel=1e-12)
        assert row.strength == pytest.approx(ref["strength"], rel=1e-12)
    bars = bar_stats_frame(bar_rows, registry)
    bars["tf_ms"] = bars["timeframe"].map({"1m": MIN, "5m": 5 * MIN, "15m": 15 * MIN})
    bars = bars.sort_values(["bar_time", "tf_ms"])
    stats = sorted(stats, key=lambda d: (d["bar_time"], d["tf_ms"]))
    assert len(bars) == len(stats)
    for row, ref in zip(bars.itertuples(), stats, strict=True):
        assert (row.bar_time, row.tf_ms, row.bin_ticks) == (
            ref["bar_time"],
            ref["tf_ms"],
            ref["bin"],
        )
        assert row.close == spec.ticks_to_price(ref["close"])
        assert row.volume == spec.steps_to_qty(ref["volume"])
        assert row.delta == spec.steps_to_qty(ref["delta"])
        assert row.delta_pct == pytest.approx(100 * ref["delta"] / ref["volume"], rel=1e-12)
        assert row.notional == pytest.approx(ref["notional"] * quote, rel=1e-12)
        assert (row.levels, row.buy_imbalances, row.sell_imbalances) == (
            ref["levels"], ref["buy_imbalances"], ref["sell_imbalances"],
        )  # fmt: skip
        assert close(row.rvol, ref["rvol"])
