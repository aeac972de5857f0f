"""SignalsView: its table and ranking are the tracker's, under filters computed here anew; its
empty states say why; a click selects the signal and asks for its footprint, which opens on
the signal's bar with its levels boxed."""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np
import pandas as pd
import pytest

from dashboard import runtime
from dashboard import signals as signals_module
from dashboard.cli import register, settings_of
from dashboard.footprint import FootprintView
from dashboard.footprint_chart import main_layers
from dashboard.signals import SignalsView
from pipelines.analytics.signal_tracker import CLOSE_AFTER_MS
from pipelines.analytics.signals import DIRECTION, KINDS
from pipelines.engine.footprint_source import FootprintSource
from pipelines.engine.service import Engine, EngineConfig
from tests.dashboard.feed import Feed

MINUTE = 60_000
FED_MINUTES = 30


async def _feed_minutes(feed: Feed, start: int, minutes: int, per_minute: int = 900) -> None:
    for k in range(minutes):
        t0 = start + k * MINUTE
        await feed.push(feed.trades(t0, t0 + MINUTE - 1, per_minute))


@pytest.fixture
def signalled():
    """An unstarted engine whose tracker saw FED_MINUTES whole minutes of three contracts,
    ending two minutes ago; returns (engine, feed, start of the first minute)."""
    engine = Engine()
    feed = Feed(engine)
    start = (int(time.time() * 1000) // MINUTE - FED_MINUTES - 2) * MINUTE

    async def run() -> None:
        # A first batch just before `start`: the tracker's first whole minute is `start`.
        await feed.push(feed.trades(start - 2_000, start - 1, 30))
        await _feed_minutes(feed, start, FED_MINUTES)

    asyncio.run(run())
    assert engine.analytics.signals.last_seq > 100
    return engine, feed, start


def signal_box(view):
    """The layer of the footprint's main chart that boxes a signal, as the view draws it."""
    frame = view.frame()
    layers = main_layers(frame, view.source.big_orders(*frame.x_range))
    (box,) = [g for g in layers if getattr(g, "group", "") == "Signal"]
    return box


def shown(view) -> str:
    return view.empty.object if view.empty.visible else ""


def expected(frame: pd.DataFrame, **f) -> pd.DataFrame:
    """The signals a trader's filters keep, computed from the tracker's frame with pandas."""
    keep = pd.Series(True, index=frame.index)
    if "kinds" in f:
        keep &= frame["kind"].isin(f["kinds"])
    if "directions" in f:
        way = [DIRECTION[(k, s)] for k, s in zip(frame["kind"], frame["side"], strict=True)]
        keep &= pd.Series(way, index=frame.index).isin(f["directions"])
    if "timeframes" in f:
        keep &= frame["timeframe"].isin(f["timeframes"])
    keep &= frame["notional"] >= f.get("min_notional", 0)
    keep &= frame["strength"] >= f.get("min_strength", 0)
    if f.get("search"):
        parts = [p.strip().upper() for p in f["search"].split(",") if p.strip()]
        keep &= frame["symbol"].map(lambda s: any(p in s for p in parts))
    return frame[keep.to_numpy()]


def test_table_is_the_trackers_signals_newest_last_streamed(signalled) -> None:
    engine, feed, start = signalled
    tracker = engine.analytics.signals
    view = SignalsView(engine=engine, min_strength=0)
    view.__panel__()
    table = view.table.value
    frame = tracker.frame()
    assert table["seq"].astype(int).tolist() == frame["seq"].tolist()
    tf_ms = frame["timeframe"].map({"1m": MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE})
    np.testing.assert_array_equal(table["time"], frame["bar_time"] + tf_ms)  # the bar's close
    assert table["symbol"].tolist() == frame["symbol"].tolist()
    assert table["timeframe"].tolist() == frame["timeframe"].tolist()
    np.testing.assert_allclose(table["notional"], frame["notional"], rtol=1e-12)
    np.testing.assert_allclose(table["strength"], frame["strength"], rtol=1e-12)
    assert table["side"].tolist() == frame["side"].tolist()
    # Prices on each contract's grid: one price, or the range's lowest and highest level.
    for (_, row), price, levels in zip(
        frame.iterrows(), table["price"], table["levels"], strict=True
    ):
        spec = engine.registry.spec(row["symbol"])
        low = f"{row['price_low']:,.{spec.price_decimals}f}"
        high = f"{row['price_high']:,.{spec.price_decimals}f}"
        assert price == (low if low == high else f"{low} – {high}")
        assert levels == f"{row['levels']} × {spec.format_price(int(row['bin_ticks']))}"
    ways = {1: "buy", -1: "sell", 0: "neutral"}
    assert table["direction"].tolist() == [
        ways[DIRECTION[(k, s)]] for k, s in zip(frame["kind"], frame["side"], strict=True)
    ]
    assert "signals" in view._count.object and shown(view) == ""

    # New minutes: only the new signals are streamed in (after the ones shown).
    before = tracker.last_seq
    asyncio.run(_feed_minutes(feed, start + FED_MINUTES * MINUTE, 2))
    assert tracker.last_seq > before
    streamed = []
    original = view.table.stream
    view.table.stream = lambda value, **kw: (streamed.append(value), original(value, **kw))
    view.refresh()
    assert len(streamed) == 1
    assert streamed[0]["seq"].astype(int).tolist() == list(range(before + 1, tracker.last_seq + 1))
    assert view.table.value["seq"].astype(int).tolist() == tracker.frame()["seq"].tolist()


@pytest.mark.parametrize(
    "filters",
    [
        {"kinds": ["unfinished_auction", "exhaustion"]},
        {"directions": (1,)},
        {"directions": (-1,)},
        {"directions": (0,)},
        {"timeframes": ["5m", "15m"]},
        {"min_notional": 1_000_000},
        {"min_strength": 1.5},
        {"search": "btc, sol"},
        {
            "kinds": ["stacked_imbalance", "delta_divergence"],
            "timeframes": ["1m"],
            "min_strength": 0.5,
            "directions": (-1,),
        },
    ],
)
def test_filters_keep_what_the_trader_asked_for(signalled, filters) -> None:
    engine, _, _ = signalled
    side = {(1,): "buy", (-1,): "sell", (0,): "neutral"}.get(filters.get("directions"), "all")
    view = SignalsView(
        engine=engine, kinds=filters.get("kinds", list(KINDS)), side=side,
        timeframes=filters.get("timeframes", ["1m", "5m", "15m"]),
        min_notional=filters.get("min_notional", 0), min_strength=filters.get("min_strength", 0),
        symbol_filter=filters.get("search", ""),
    )  # fmt: skip
    view.__panel__()
    want = expected(engine.analytics.signals.frame(), **filters)
    assert 0 < len(want) < engine.analytics.signals.last_seq
    assert view.table.value["seq"].astype(int).tolist() == want["seq"].tolist()
    # The same filters set after the first draw rebuild the table alike.
    other = SignalsView(engine=engine, min_strength=0)
    other.__panel__()
    other.param.update(
        kinds=view.kinds, side=view.side, timeframes=view.timeframes,
        min_notional=view.min_notional, min_strength=view.min_strength,
        symbol_filter=view.symbol_filter,
    )  # fmt: skip
    assert other.table.value["seq"].tolist() == view.table.value["seq"].tolist()


def test_rows_keep_the_newest(signalled) -> None:
    engine, _, _ = signalled
    view = SignalsView(engine=engine, min_strength=0, rows=25)
    view.__panel__()
    assert (
        view.table.value["seq"].astype(int).tolist()
        == (engine.analytics.signals.frame()["seq"].tolist()[-25:])
    )


@pytest.mark.parametrize("window", ["15m", "60m"])
def test_ranking_is_the_trackers_net_count(signalled, window, monkeypatch) -> None:
    engine, _, _ = signalled
    now = int(time.time() * 1000)
    monkeypatch.setattr(time, "time", lambda: now / 1000)  # one window for the view and here
    view = SignalsView(engine=engine, min_strength=0.5, rank_window=window, symbol_filter="BTC")
    view.__panel__()
    minutes = {"15m": 15, "60m": 60}[window]
    # Counted here from the frame: bars opened in the window, the filters but the search.
    frame = expected(engine.analytics.signals.frame(), min_strength=0.5)
    frame = frame[frame["bar_time"] >= now - minutes * MINUTE]
    way = np.array([DIRECTION[(k, s)] for k, s in zip(frame["kind"], frame["side"], strict=True)])
    counted = (
        pd.DataFrame({"symbol": frame["symbol"], "buy": way > 0, "sell": way < 0})
        .groupby("symbol")
        .agg(buy=("buy", "sum"), sell=("sell", "sum"), signals=("buy", "size"))
    )
    ranking = view.ranking.value.set_index("symbol")
    assert set(ranking.index) == set(counted.index) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    for symbol, row in counted.iterrows():
        assert ranking.loc[symbol, "buy"] == row["buy"]
        assert ranking.loc[symbol, "sell"] == row["sell"]
        assert ranking.loc[symbol, "net"] == row["buy"] - row["sell"]
        assert ranking.loc[symbol, "signals"] == row["signals"]
    assert list(view.ranking.value["net"]) == sorted(view.ranking.value["net"], reverse=True)
    signs = np.sign(view.ranking.value["net"]).map({1.0: "buy", -1.0: "sell", 0.0: "neutral"})
    assert view.ranking.value["direction"].tolist() == signs.tolist()


def test_empty_states_say_why(signalled, monkeypatch) -> None:
    monkeypatch.setattr("dashboard.live.feed_reason", lambda status: "")  # the feed is live
    off = SignalsView(engine=Engine(EngineConfig(signals=False)))
    off.__panel__()
    assert "signals are off" in shown(off)
    off.refresh_all()  # refreshes without a tracker do nothing, and never raise
    assert off._errors == 0

    fresh = Engine()
    view = SignalsView(engine=fresh)
    view.__panel__()
    assert "waiting for the first trades" in shown(view)
    feed = Feed(fresh)
    now = int(time.time() * 1000)
    batch = asyncio.run(feed.push(feed.trades(now - 500, now, 20)))
    view.refresh()
    # The end of the first minute the tracker sees whole, and the 2 s a minute stays open.
    first = (-(-batch.created_ms // MINUTE) + 1) * MINUTE + CLOSE_AFTER_MS
    at = time.strftime("%H:%M:%S", time.gmtime(first / 1000))
    assert f"waiting for the first whole minute to close · signals from {at} UTC" in shown(view)

    engine, _, _ = signalled
    hidden = SignalsView(engine=engine, min_strength=20.0, kinds=["absorption"])
    hidden.__panel__()
    assert "no signal passes the filters" in shown(hidden)
    hidden.param.update(min_strength=0.0, kinds=list(KINDS))
    assert shown(hidden) == ""


def test_unstarted_engine_names_the_feed() -> None:
    view = SignalsView(engine=Engine())
    view.__panel__()
    assert "connecting to the exchange" in shown(view)


def test_click_selects_the_signal_and_asks_for_its_footprint(signalled) -> None:
    engine, _, _ = signalled
    view = SignalsView(engine=engine, min_strength=0)
    view.__panel__()
    opened = []
    view.param.watch(lambda e: opened.append(view.selected), "open_footprint")
    seq = int(view.table.value["seq"].iloc[3])
    view._clicks.value = f"{float(seq)}\n1"  # what the browser sends (clicks.on_shown_click)
    want = engine.analytics.signals.frame(seq - 1).iloc[0]
    assert opened == [view.selected]
    assert view.selected["symbol"] == want["symbol"]
    assert view.selected["bar_time"] == want["bar_time"]
    assert view.selected["price_low"] == want["price_low"]
    assert view.selected["kind"] == want["kind"] and view.selected["side"] == want["side"]


def test_show_signal_frames_the_bar_and_boxes_its_levels(signalled) -> None:
    engine, _, _ = signalled
    tracker = engine.analytics.signals
    frame = tracker.frame()
    # An early 5m signal of a range of levels, before the five bars the source loads.
    signal = frame[(frame["timeframe"] == "5m") & (frame["levels"] > 1)].iloc[0]
    source = FootprintSource(engine=engine, symbol="ETHUSDT", history_bars=5)
    view = FootprintView(source=source)
    view.__panel__()
    view.show_signal(
        signal["symbol"], signal["timeframe"], int(signal["bar_time"]), signal["price_low"],
        signal["price_high"], int(signal["bin_ticks"]), label="the signal",
    )  # fmt: skip
    assert (view.symbol, view.timeframe) == (signal["symbol"], "5m")
    assert source.bin_ticks == signal["bin_ticks"]  # the chart's levels are the signal's
    drawn = view.frame()  # the opening frame of the new chart
    bar, tf = int(signal["bar_time"]), 5 * MINUTE
    assert drawn.x_range[0] <= bar and bar + tf <= drawn.x_range[1]
    assert source.start_ms <= bar  # older bars were loaded
    assert bar in set(drawn.bars["bar_time"])
    level = float(engine.registry.spec(signal["symbol"]).ticks_to_price(int(signal["bin_ticks"])))
    box = signal_box(view)
    np.testing.assert_allclose(
        [box.data[k][0] for k in ("time", "price", "time_end", "price_top")],
        [bar, signal["price_low"], bar + tf, signal["price_high"] + level],
    )
    assert box.data["signal"].tolist() == ["the signal"]
    # Another timeframe: no box, the chart opens on the live bars again.
    view.timeframe = "1m"
    view.refresh()
    assert view.frame().mark is None and view._signal is None
    assert len(signal_box(view).data["time"]) == 0


def test_record_of_the_selected_signal(signalled, monkeypatch, tmp_path) -> None:
    engine, _, _ = signalled
    monkeypatch.setattr(signals_module, "_READS", {})
    # A research output's `signals` dataset (orderflow research signals), written by hand:
    # three unfinished auctions HIGH of BTCUSDT 1m and one LOW, with what the price did after.
    part = tmp_path / "signals" / "symbol=BTCUSDT" / "date=2024-01-01"
    part.mkdir(parents=True)
    pd.DataFrame(
        {
            "timeframe": ["1m"] * 4, "kind": ["unfinished_auction"] * 4,
            "side": ["high", "high", "high", "low"], "direction": [1, 1, 1, -1],
            "return_5m": [0.001, -0.0005, 0.0002, 0.003],
            "return_15m": [0.002, 0.001, np.nan, 0.0],
            "return_60m": [np.nan, np.nan, np.nan, np.nan],
        }
    ).to_parquet(part / "part.parquet")  # fmt: skip
    view = SignalsView(engine=engine, min_strength=0, research_dir=str(tmp_path))
    view.__panel__()
    frame = engine.analytics.signals.frame()
    pick = frame[(frame["symbol"] == "BTCUSDT") & (frame["kind"] == "unfinished_auction")
                 & (frame["side"] == "high") & (frame["timeframe"] == "1m")].iloc[0]  # fmt: skip
    view._clicked(str(pick["seq"]))
    deadline = time.monotonic() + 30
    while "after 5m" not in view.record.object and time.monotonic() < deadline:
        time.sleep(0.05)
        view.refresh()
    text = view.record.object
    assert "BTCUSDT · 1m · unfinished auction HIGH · 3 signals" in text
    # after 5m: mean +2.3 bp, median +2.0 bp, 2 of 3 in the signal's direction.
    assert "+2.3 bp" in text and "+2.0 bp" in text and "66.7 %" in text
    # after 15m: the unknown return is left out: mean +15.0 bp of two, both hits.
    assert "+15.0 bp" in text and "100.0 %" in text
    assert "+30.0 bp" not in text  # the LOW row is another record


def test_record_without_signal_record_says_so(signalled, monkeypatch) -> None:
    engine, _, _ = signalled
    monkeypatch.setattr(signals_module, "_READS", {})

    def missing(*args) -> pd.DataFrame:
        raise ImportError("cannot import name 'signal_record'")

    monkeypatch.setattr(signals_module, "_read_record", missing)
    view = SignalsView(engine=engine, min_strength=0, research_dir="/research/out")
    view.__panel__()
    deadline = time.monotonic() + 10
    while "no record" not in view.record.object and time.monotonic() < deadline:
        time.sleep(0.05)
        view.refresh()
    assert "has no signal_record" in view.record.object
    assert view.record.visible
    assert not SignalsView(engine=engine).record.visible  # no directory: no pane


def test_research_dir_setting() -> None:
    settings = runtime.RuntimeSettings(research_dir="/data/research")
    assert runtime.RuntimeSettings.from_env(settings.to_env()) == settings
    assert runtime.RuntimeSettings.from_env({"ORDERFLOW_RESEARCH_DIR": "/r"}).research_dir == "/r"
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve", "--research", "/data/out", "--no-db"])
    assert settings_of(args).research_dir == "/data/out"
    assert settings_of(parser.parse_args(["demo"])).research_dir is None
