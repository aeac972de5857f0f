"""FootprintSource against a rebuild from the raw trades, after every kind of change."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.footprint import FootprintRules, footprint_from_records
from pipelines.engine.footprint_source import CLOSE_AFTER_MS, FootprintSource
from pipelines.engine.service import Engine
from tests.dashboard.feed import Feed
from tests.engine.test_history import engine_with_history  # noqa: F401 (fixture)
from tests.storage.synth import GRIDS, T0

MINUTE = 60_000
NOW = 1_790_000_000_000 // MINUTE * MINUTE + 30_000  # mid-minute: a live bar is open


def rebuild(trades: np.ndarray, source: FootprintSource) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The footprint of the source's range, from the trades themselves (cvd from its start)."""
    spec = source.spec
    rules = FootprintRules.make(
        spec, price_bin_ticks=source.bin_ticks, timeframe=source.timeframe,
        imbalance_ratio=source.imbalance_ratio,
    )  # fmt: skip
    mine = trades[trades["time"] >= source.start_ms]
    fp = footprint_from_records(mine, spec, rules)
    return fp.levels, fp.bars.assign(cvd=np.cumsum(fp.bars["delta"].to_numpy()))


def assert_equal_to_rebuild(source: FootprintSource, trades: np.ndarray) -> None:
    levels, bars = source.frames()
    want_levels, want_bars = rebuild(trades, source)
    pd.testing.assert_frame_equal(bars.reset_index(drop=True), want_bars.reset_index(drop=True))
    pd.testing.assert_frame_equal(levels.reset_index(drop=True), want_levels.reset_index(drop=True))


class Market:
    """An unstarted engine fed synthetic BTCUSDT trades, and every trade it was given."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.feed = Feed(self.engine)
        self.now = NOW
        self.given: list[np.ndarray] = []

    def push(self, start: int, end: int, n: int) -> None:
        trades = self.feed.trades(start, end, n)
        self.given.append(trades)
        asyncio.run(self.feed.push(trades))

    def btc(self) -> np.ndarray:
        trades = np.concatenate(self.given)
        return trades[trades["sym"] == 0]

    def source(self, **params: object) -> FootprintSource:
        return FootprintSource(engine=self.engine, clock=lambda: self.now, **params)


@pytest.fixture
def market() -> Market:
    m = Market()
    m.push(NOW - 40 * MINUTE, NOW - 1000, 20_000)
    return m


def test_first_load_and_live_trades_equal_rebuild(market: Market) -> None:
    source = market.source(symbol="BTCUSDT", price_bin=5)
    assert source.refresh() == "rebuild"
    assert_equal_to_rebuild(source, market.btc())
    version = source.version
    assert source.refresh() == ""  # nothing new: nothing announced
    assert source.version == version
    market.push(NOW - 900, NOW + 20_000, 600)  # into the live bar
    market.now = NOW + 20_001
    assert source.refresh() == "live"
    assert source.version == version + 1
    assert_equal_to_rebuild(source, market.btc())


def test_bars_close_as_time_passes(market: Market) -> None:
    source = market.source(symbol="BTCUSDT", price_bin=5)
    source.refresh()
    live = source.live_start
    market.push(NOW + 29_500, NOW + 3 * MINUTE, 900)  # the live bar and two more minutes
    market.now = NOW + 3 * MINUTE
    assert source.refresh() == "closed"
    assert source.live_start == (NOW + 3 * MINUTE) // MINUTE * MINUTE > live
    assert_equal_to_rebuild(source, market.btc())


@pytest.mark.parametrize(
    "change", [{"price_bin": 20}, {"timeframe": "5m"}, {"imbalance_ratio": 1.5}, {"price_bin": 0}]
)
def test_rule_changes_rebuild_from_the_trades(market: Market, change: dict) -> None:
    source = market.source(symbol="BTCUSDT", price_bin=5)
    source.refresh()
    start = source.start_ms
    version = source.version
    source.param.update(change)  # watchers rebuild at once
    assert source.version == version + 1 and source.change == "rebuild"
    assert source.start_ms == start // source.tf_ms * source.tf_ms  # the range is kept
    assert_equal_to_rebuild(source, market.btc())


def test_trades_released_late_into_closed_bars_rebuild_them(market: Market) -> None:
    """A filled gap: trades of bars the source had already closed (by the clock) arrive."""
    source = market.source(symbol="BTCUSDT", price_bin=5)
    market.now = NOW + 10 * MINUTE
    source.refresh()
    market.push(NOW, NOW + 10 * MINUTE - 1, 3_000)  # held behind a gap, released now
    market.engine.sequencer.stats.gaps_filled += 1
    assert source.refresh() == "rebuild"
    assert_equal_to_rebuild(source, market.btc())


def test_a_bar_stays_open_for_its_trades_still_on_their_way(market: Market) -> None:
    """The clock just past a bar's end closes nothing until the contract trades in the next
    bar: the bar's last trades (stamped before its end, arriving after it) are in it."""
    source = market.source(symbol="BTCUSDT", price_bin=5)
    source.refresh()
    live = source.live_start
    end = live + MINUTE
    market.now = end + CLOSE_AFTER_MS - 1
    assert source.refresh() == ""  # nothing new, and not closed by the clock yet
    assert source.live_start == live
    market.push(end - 300, end - 1, 40)  # stamped in the live bar, arriving now
    assert source.refresh() == "live"
    market.push(end, end + 500, 40)  # the next bar's first trades: the bar is complete
    assert source.refresh() == "closed"
    assert source.live_start == end
    assert_equal_to_rebuild(source, market.btc())


def test_trades_arriving_after_their_bar_closed_by_the_clock_rebuild_it(market: Market) -> None:
    """A quiet contract's bar closes CLOSE_AFTER_MS after its end; a trade stamped in it that
    arrives later still (a clock ahead of the exchange's) rebuilds the range."""
    source = market.source(symbol="BTCUSDT", price_bin=5)
    source.refresh()
    end = source.live_start + MINUTE
    market.now = end + CLOSE_AFTER_MS
    assert source.refresh() == "closed"
    assert source.live_start == end
    market.push(end - 200, end - 1, 30)
    assert source.refresh() == "rebuild"
    assert_equal_to_rebuild(source, market.btc())
    assert source.refresh() == ""  # once


def test_a_choice_made_during_a_rebuild_is_applied_after_it(market: Market) -> None:
    source = market.source(symbol="BTCUSDT", price_bin=5)
    source.refresh()
    engine = market.engine
    original = engine.footprint
    calls = []

    def footprint_then_choose(*args, **kwargs):
        if not calls:  # the trader picks another bin while the first rebuild runs
            calls.append(1)
            source.price_bin = 50
        return original(*args, **kwargs)

    engine.footprint = footprint_then_choose
    source.price_bin = 10
    assert source.bin_ticks == 50 and source.price_bin == 50
    assert_equal_to_rebuild(source, market.btc())


def test_history_load_reaches_into_the_store(engine_with_history) -> None:  # noqa: F811
    engine, trades = engine_with_history
    end = T0 + 3 * 3600_000
    source = FootprintSource(
        engine=engine, symbol=GRIDS[0][0], price_bin=2, history_bars=30, clock=lambda: end
    )
    source.refresh()
    assert source.start_ms > T0 + 2 * 3600_000
    assert source.load_before(T0) and source.change == "older"
    assert source.start_ms == T0 // MINUTE * MINUTE
    assert_equal_to_rebuild(source, trades[trades["sym"] == 0])
    assert not source.load_before(T0 - 3600_000)  # nothing older exists: nothing to load


def test_an_automatic_bin_follows_a_widening_range(market: Market) -> None:
    source = market.source(symbol="BTCUSDT")  # price_bin 0: automatic
    source.refresh()
    before = source.bin_ticks
    # A minute that sweeps far more ticks than before: the next close re-chooses the bin.
    trades = market.feed.trades(NOW + 29_500, NOW + 59_000, 400)
    trades["price"][trades["sym"] == 0] += np.arange((trades["sym"] == 0).sum()) * 40
    market.given.append(trades)
    asyncio.run(market.feed.push(trades))
    market.now = NOW + 2 * MINUTE
    assert source.refresh() == "rebuild"
    assert source.bin_ticks > before
    assert_equal_to_rebuild(source, market.btc())


def test_big_orders_read_as_they_come_equal_a_whole_read(market: Market) -> None:
    """The source reads only the orders the detector added since its last read; what it holds
    equals the contract's rows of a whole read of the detector, across ring evictions and a
    change of the screener's floor."""
    from pipelines.analytics.bigorders import TAKER_ORDER_DTYPE
    from pipelines.analytics.ring import SequencedRing

    detector = market.engine.analytics.orders
    detector.history = SequencedRing(TAKER_ORDER_DTYPE, 300)  # small: the ring wraps
    detector.set_adv({"BTCUSDT": 1.0, "ETHUSDT": 1.0, "SOLUSDT": 1.0})  # every order is big
    source = market.source(symbol="BTCUSDT")

    def whole_read() -> pd.DataFrame:
        everything = detector.big_since(0)
        return everything[everything["symbol"] == "BTCUSDT"].reset_index(drop=True)

    reads = 0
    for step in range(12):
        market.push(NOW + step * 100, NOW + step * 100 + 99, 200)
        if step == 7:
            detector.min_notional = float(whole_read()["notional"].median())
        got = source.big_orders(0, 2**62).reset_index(drop=True)
        want = whole_read()
        assert len(want) > 0
        pd.testing.assert_frame_equal(got, want)
        reads += 1
    assert detector.history.first_seq > 1  # rows were evicted along the way
    assert reads == 12
