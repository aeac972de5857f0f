"""The live `SignalTracker` against the pure `signals_from_profile` over the same trades.

Whatever the micro-batches, the interleaving of contracts and the clock, the tracker's signals
and bar statistics are exactly those of the trades from its first whole minute on (each
timeframe from its first whole bar there, docs/analytics.md "Live closing"); a trade whose
minute had closed is counted in `late_trades` and left out.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.analytics.profile import profile_from_records
from pipelines.analytics.signal_tracker import CLOSE_AFTER_MS, SignalTracker
from pipelines.analytics.signals import (
    BAR_STATS_DTYPE,
    SIGNAL_DTYPE,
    SIGNAL_TIMEFRAMES,
    signals_from_profile,
)
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.dtypes import TRADE_DTYPE
from tests.analytics.signal_reference import naive_signals
from tests.analytics.test_signals import (
    APPROX_CSV,
    MIN,
    T0,
    assert_same,
    real_sample,
    records_of,
    signal_tapes,
    tape_of,
)

SPECS = [ContractSpec("AAAUSDT", "0.1", "0.001"), ContractSpec("BBBUSDT", "0.01", "1"),
         ContractSpec("CCCUSDT", "0.0001", "0.1")]  # fmt: skip
TF_MS = {"1m": MIN, "5m": 5 * MIN, "15m": 15 * MIN}


def expected(records: np.ndarray, first_ms: int, registry: SymbolRegistry):
    """`signals_from_profile` of each contract's trades, each timeframe from its first whole
    bar at or after `first_ms`: (SIGNAL_DTYPE rows, BAR_STATS_DTYPE rows)."""
    signals, stats = [np.zeros(0, SIGNAL_DTYPE)], [np.zeros(0, BAR_STATS_DTYPE)]
    for sym in np.unique(records["sym"]).tolist():
        mine = records[records["sym"] == sym]
        for tf in SIGNAL_TIMEFRAMES:
            start = -(-first_ms // TF_MS[tf]) * TF_MS[tf]
            part = mine[mine["time"] >= start]
            if len(part):
                profile = profile_from_records(part, registry.spec(sym))
                rows, bar_rows = signals_from_profile(profile, sym=sym, timeframes=(tf,))
                signals.append(rows)
                stats.append(bar_rows)
    return np.concatenate(signals), np.concatenate(stats)


def in_order(rows: np.ndarray, keys: tuple[str, ...]) -> np.ndarray:
    return rows[np.lexsort(tuple(rows[k] for k in reversed(keys)))]


SIGNAL_ORDER = ("sym", "bar_time", "tf_ms", "kind", "side", "low_ticks", "high_ticks", "volume")
BAR_ORDER = ("sym", "bar_time", "tf_ms")


def assert_tracker_equals(tracker: SignalTracker, records: np.ndarray) -> None:
    """The tracker's rows equal the pure function's, every column, bit for bit."""
    want_signals, want_stats = expected(records, tracker.first_minute * MIN, tracker.registry)
    got_signals, _ = tracker.since(0)
    got_stats, _ = tracker.bars.since(0)
    got_signals = in_order(got_signals, SIGNAL_ORDER)
    want_signals = in_order(want_signals, SIGNAL_ORDER)
    assert len(got_signals) == len(want_signals)
    for name in SIGNAL_DTYPE.names:
        np.testing.assert_array_equal(got_signals[name], want_signals[name], err_msg=name)
    got_stats, want_stats = in_order(got_stats, BAR_ORDER), in_order(want_stats, BAR_ORDER)
    assert len(got_stats) == len(want_stats)
    for name in BAR_STATS_DTYPE.names:
        np.testing.assert_array_equal(got_stats[name], want_stats[name], err_msg=name)


def feed(tracker: SignalTracker, records: np.ndarray, cuts: list[int], delays: list[int]):
    """Feed `records` (in time order) cut into batches; each batch arrives at its newest trade's
    time plus a delay under the close delay (so no trade is late); then the clock runs past every
    bar. Returns the signals read incrementally with `since(seq)`."""
    bounds = [0, *cuts, len(records)]
    now, seq, seen = None, 0, []
    for i, (a, b) in enumerate(pairwise(bounds)):
        last = int(records["time"][b - 1]) if b > 0 else int(records["time"][0])
        now = max(now or 0, last + delays[i % len(delays)])
        tracker.update(records[a:b], now)
        rows, seqs = tracker.since(seq)
        if len(seqs):
            assert seqs[0] == seq + 1 and np.all(np.diff(seqs) == 1)
            seq = int(seqs[-1])
        seen.append(rows)
    tracker.update(np.zeros(0, TRADE_DTYPE), now + 16 * MIN)
    rows, seqs = tracker.since(seq)
    seen.append(rows)
    return np.concatenate(seen)


@st.composite
def contracts(draw, n_max: int = 3):
    """Records of 1..3 contracts over the same hours, interleaved in time order."""
    n = draw(st.integers(1, n_max))
    parts = []
    for sym in range(n):
        tape = draw(signal_tapes(max_trades=70))
        parts.append(records_of(tape, sym=sym, first_agg=1 + 10_000 * sym))
    records = np.concatenate(parts)
    return records[np.lexsort((records["agg_id"], records["time"]))]


@settings(max_examples=60, deadline=None)
@given(
    contracts(),
    st.data(),
    st.lists(st.integers(0, 1_999), min_size=1, max_size=8),
    st.integers(-3 * MIN, 2 * MIN),
)
def test_random_batches_of_interleaved_contracts_equal_the_pure_signals(
    records, data, delays, start_offset
):
    registry = SymbolRegistry(SPECS)
    tracker = SignalTracker(registry)
    # The tracker starts at some point around the first trade: earlier minutes are skipped.
    tracker.update(np.zeros(0, TRADE_DTYPE), int(records["time"][0]) + start_offset)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(records)), max_size=15)))
    incremental = feed(tracker, records, cuts, delays)
    assert tracker.late_trades == 0
    assert_tracker_equals(tracker, records)
    assert incremental.tobytes() == tracker.since(0)[0].tobytes()


def test_real_trades_in_random_batches_equal_the_pure_signals_and_the_reference():
    spec, records = real_sample(APPROX_CSV)
    registry = SymbolRegistry([spec])
    rng = np.random.default_rng(7)
    for _ in range(3):
        tracker = SignalTracker(registry)
        cuts = sorted(rng.integers(0, len(records), 40).tolist())
        tracker.update(np.zeros(0, TRADE_DTYPE), int(records["time"][0]))
        feed(tracker, records, cuts, rng.integers(0, CLOSE_AFTER_MS, 10).tolist())
        assert tracker.late_trades == 0
        assert_tracker_equals(tracker, records)
        # And the reference, on the whole bars from the first whole minute (23:55; 5m: 23:55).
        first = tracker.first_minute * MIN
        assert first % (5 * MIN) == 0
        mine = records[records["time"] >= first]
        signals, stats = naive_signals(tape_of(mine), ("1m", "5m"))
        got, _ = tracker.since(0)
        bars, _ = tracker.bars.since(0)
        assert_same(got, bars, signals, stats)
        assert len(bars) == 5 + 1  # minutes 23:55..23:59 and the 23:55 5m bar


# ---------------------------------------------------------------- the clock and late trades


def test_a_quiet_contracts_bars_close_by_the_clock():
    registry = SymbolRegistry(SPECS[:2])
    tracker = SignalTracker(registry)
    tracker.update(np.zeros(0, TRADE_DTYPE), T0)
    busy = records_of([(T0 + k * 10_000, 1000 + k % 7, 1 + k % 3, k % 2 == 0) for k in range(80)])
    quiet = records_of([(T0 + MIN + 5_000, 500, 4, False), (T0 + MIN + 9_000, 503, 2, True)],
                       sym=1, first_agg=1_000)  # fmt: skip
    records = np.concatenate([busy, quiet])
    records = records[np.lexsort((records["agg_id"], records["time"]))]

    def quiet_bars(tf_ms: int) -> list[int]:
        rows, _ = tracker.bars.since(0)
        return rows["bar_time"][(rows["sym"] == 1) & (rows["tf_ms"] == tf_ms)].tolist()

    fed = 0

    def run_to(now: int) -> None:
        nonlocal fed
        upto = int(np.searchsorted(records["time"], now, side="right"))
        tracker.update(records[fed:upto], now)
        fed = upto

    run_to(T0 + 2 * MIN + CLOSE_AFTER_MS - 1)
    assert quiet_bars(MIN) == []  # the minute ended 1.999 s ago
    run_to(T0 + 2 * MIN + CLOSE_AFTER_MS)
    assert quiet_bars(MIN) == [T0 + MIN]
    run_to(T0 + 5 * MIN + CLOSE_AFTER_MS - 1)
    assert quiet_bars(5 * MIN) == []
    run_to(T0 + 5 * MIN + CLOSE_AFTER_MS)  # no trade of the quiet contract since minute 1
    assert quiet_bars(5 * MIN) == [T0]
    run_to(T0 + 15 * MIN + CLOSE_AFTER_MS)
    assert quiet_bars(15 * MIN) == [T0]
    assert tracker.late_trades == 0
    assert_tracker_equals(tracker, records)


def late_case(trades, late, now_late):
    """Feed `trades` ((time, price, qty, sold, now) per trade, in order), then the `late`
    trade at `now_late`, then the clock past every bar; returns the tracker and the trades
    it should hold."""
    registry = SymbolRegistry(SPECS[:1])
    tracker = SignalTracker(registry)
    tracker.update(np.zeros(0, TRADE_DTYPE), T0)
    kept = records_of([t[:4] for t in trades])
    for i, t in enumerate(trades):
        tracker.update(kept[i : i + 1], t[4])
    tracker.update(records_of([late], first_agg=500), now_late)
    tracker.update(np.zeros(0, TRADE_DTYPE), now_late + 16 * MIN)
    return tracker, kept


def test_a_trade_after_a_later_minute_was_closed_is_late():
    # Minute 0 closes when minute 1 trades; minute 1 when minute 2 trades.
    trades = [(T0 + 1_000, 100, 1, False, T0 + 1_000), (T0 + MIN + 1_000, 101, 2, True, T0 + MIN + 1_000),
              (T0 + 2 * MIN + 1_000, 102, 3, False, T0 + 2 * MIN + 1_000)]  # fmt: skip
    tracker, kept = late_case(trades, (T0 + 30_000, 99, 5, True), T0 + 2 * MIN + 1_100)
    assert tracker.late_trades == 1
    assert_tracker_equals(tracker, kept)


def test_a_trade_of_a_quiet_minute_after_a_later_trade_of_the_contract_is_late():
    # Minute 1 never traded; minute 2's trade closed it (the clock had closed only minute 0).
    trades = [(T0 + 1_000, 100, 1, False, T0 + 1_000),
              (T0 + 2 * MIN + 100, 102, 3, False, T0 + 2 * MIN + 100)]  # fmt: skip
    tracker, kept = late_case(trades, (T0 + MIN + 59_000, 99, 5, True), T0 + 2 * MIN + 200)
    assert tracker.late_trades == 1
    assert_tracker_equals(tracker, kept)


def test_a_trade_of_a_quiet_minute_closed_by_the_clock_is_late():
    # Minute 0 traded; at 5m + the close delay the clock closed minutes 1..4 and the 5m bar. A trade of
    # minute 3 arriving then must not open the 5m bar a second time.
    trades = [(T0 + 1_000, 100, 1, False, T0 + 1_000)]
    tracker, kept = late_case(
        trades, (T0 + 3 * MIN + 5_000, 99, 5, True), T0 + 5 * MIN + CLOSE_AFTER_MS
    )
    # The clock reached 5m + the close delay only with the late trade's own batch: it is still on time.
    assert tracker.late_trades == 0
    on_time = records_of([(T0 + 3 * MIN + 5_000, 99, 5, True)], first_agg=500)
    assert_tracker_equals(tracker, np.concatenate([kept, on_time]))
    # Now the clock passes 5m + the close delay in a batch without trades of the contract, then the trade.
    tracker = SignalTracker(SymbolRegistry(SPECS[:1]))
    tracker.update(np.zeros(0, TRADE_DTYPE), T0)
    tracker.update(kept, T0 + 1_000)
    tracker.update(np.zeros(0, TRADE_DTYPE), T0 + 5 * MIN + CLOSE_AFTER_MS)
    tracker.update(records_of([(T0 + 3 * MIN + 5_000, 99, 5, True)], first_agg=500),
                   T0 + 5 * MIN + 3_000)  # fmt: skip
    later = records_of([(T0 + 6 * MIN, 101, 1, False)], first_agg=600)
    tracker.update(later, T0 + 6 * MIN)
    tracker.update(np.zeros(0, TRADE_DTYPE), T0 + 30 * MIN)
    assert tracker.late_trades == 1
    kept = np.concatenate([kept, later])
    bars, _ = tracker.bars.since(0)
    five = bars[bars["tf_ms"] == 5 * MIN]
    assert five["bar_time"].tolist() == [T0, T0 + 5 * MIN]
    assert_tracker_equals(tracker, kept)


def test_a_trade_of_the_open_minute_is_not_late():
    trades = [(T0 + 1_000, 100, 1, False, T0 + 1_000), (T0 + MIN + 1_000, 101, 2, True, T0 + MIN + 1_000)]  # fmt: skip
    tracker, kept = late_case(trades, (T0 + MIN + 1_000, 99, 5, True), T0 + MIN + 1_500)
    assert tracker.late_trades == 0
    late = records_of([(T0 + MIN + 1_000, 99, 5, True)], first_agg=500)
    assert_tracker_equals(tracker, np.concatenate([kept, late]))


def test_minutes_before_the_first_batch_are_skipped_not_late():
    registry = SymbolRegistry(SPECS[:1])
    tracker = SignalTracker(registry)
    records = records_of([(T0 + 10_000, 100, 1, False), (T0 + 70_000, 101, 2, True),
                          (T0 + 20 * MIN, 102, 3, False)])  # fmt: skip
    tracker.update(records[:1], T0 + 30_000)  # first whole minute: T0 + 1m
    tracker.update(records[1:], T0 + 20 * MIN)
    tracker.update(np.zeros(0, TRADE_DTYPE), T0 + 40 * MIN)
    assert tracker.first_minute * MIN == T0 + MIN and tracker.late_trades == 0
    bars, _ = tracker.bars.since(0)
    # 1m bars at 1m and 20m; the 5m and 15m bars only from their first whole bar (5m, 15m).
    assert sorted(zip(bars["tf_ms"].tolist(), bars["bar_time"].tolist(), strict=True)) == [
        (MIN, T0 + MIN), (MIN, T0 + 20 * MIN), (5 * MIN, T0 + 20 * MIN),
        (15 * MIN, T0 + 15 * MIN),
    ]  # fmt: skip
    assert_tracker_equals(tracker, records)
