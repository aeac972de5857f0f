"""FootprintView: what it sends to Bokeh equals a footprint built independently from the trades."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

from dashboard import footprint_glyphs as fg
from dashboard.footprint import FootprintView, auto_bin
from pipelines.analytics.footprint import FootprintRules, footprint_from_records

MINUTE = 60_000


def reference(
    engine, symbol: str, start: int, bin_ticks: int, timeframe: str = "1m", ratio: float = 3.0
):
    spec = engine.registry.spec(symbol)
    rules = FootprintRules.make(
        spec, price_bin_ticks=bin_ticks, timeframe=timeframe, imbalance_ratio=ratio
    )
    return footprint_from_records(engine.trades(symbol, start, None), spec, rules)


def naive_levels(engine, symbol: str, start: int, bin_ticks: int, tf: int) -> pd.DataFrame:
    """Per (bar, level) taker sell/buy volume by a plain loop over the trades."""
    spec = engine.registry.spec(symbol)
    sums: dict[tuple[int, int], list[int]] = {}
    for t in engine.trades(symbol, start, None):
        key = (int(t["time"]) // tf * tf, int(t["price"]) // bin_ticks)
        cell = sums.setdefault(key, [0, 0])
        cell[0 if t["buyer_maker"] else 1] += int(t["qty"])
    keys = sorted(sums)
    return pd.DataFrame(
        {
            "bar_time": [k[0] for k in keys],
            "price": spec.ticks_to_price(np.array([k[1] * bin_ticks for k in keys])),
            "bid_volume": spec.steps_to_qty(np.array([sums[k][0] for k in keys])),
            "ask_volume": spec.steps_to_qty(np.array([sums[k][1] for k in keys])),
        }
    )


def shown_cells(view: FootprintView) -> pd.DataFrame:
    """Bid/ask per (bar, price) as the Bokeh cell sources hold them (closed and live layers)."""
    parts = [pd.DataFrame(layer.cells.data) for layer in (view._done, view._live)]
    cells = pd.concat([p for p in parts if len(p)], ignore_index=True)
    return cells.groupby(["bar_time", "price"], as_index=False)[["bid", "ask"]].first()


def test_bin_change_reaggregates_from_trades(fed) -> None:
    engine, _, _ = fed
    view = FootprintView(engine=engine, symbol="BTCUSDT", price_bin=5)
    view.__panel__()
    start = view._window_start
    for bin_ticks in (5, 20, 5):
        view.price_bin = bin_ticks
        expected = naive_levels(engine, "BTCUSDT", start, bin_ticks, MINUTE)
        got = view.levels().sort_values(["bar_time", "price"]).reset_index(drop=True)
        np.testing.assert_array_equal(got["bar_time"], expected["bar_time"])
        np.testing.assert_allclose(got["price"], expected["price"])
        np.testing.assert_allclose(got["bid_volume"], expected["bid_volume"])
        np.testing.assert_allclose(got["ask_volume"], expected["ask_volume"])
        # What the chart holds: one quad per non-empty side, at the level's price.
        cells = shown_cells(view).sort_values(["bar_time", "price"]).reset_index(drop=True)
        np.testing.assert_allclose(cells["price"], expected["price"])
        np.testing.assert_allclose(cells["bid"], expected["bid_volume"])
        sides = int((expected["bid_volume"] > 0).sum() + (expected["ask_volume"] > 0).sum())
        assert sum(len(layer.cells.data["left"]) for layer in (view._done, view._live)) == sides


def test_bars_and_candles_match_reference(fed) -> None:
    engine, _, _ = fed
    view = FootprintView(engine=engine, symbol="ETHUSDT", price_bin=10, timeframe="5m")
    view.__panel__()
    ref = reference(engine, "ETHUSDT", view._window_start, 10, "5m")
    bars = view.bars()
    for col in ("bar_time", "open", "high", "low", "close", "volume", "delta", "trades", "poc",
                "value_area_low", "value_area_high", "max_delta", "min_delta", "cvd"):  # fmt: skip
        np.testing.assert_allclose(
            bars[col].to_numpy(dtype=float), ref.bars[col].to_numpy(dtype=float), err_msg=col
        )
    candles = pd.concat([pd.DataFrame(layer.candles.data) for layer in (view._done, view._live)])
    np.testing.assert_allclose(np.sort(candles["low"]), np.sort(ref.bars["low"]))
    np.testing.assert_allclose(np.sort(candles["high"]), np.sort(ref.bars["high"]))


def test_imbalance_flags_follow_ratio(fed) -> None:
    engine, _, _ = fed
    view = FootprintView(engine=engine, symbol="SOLUSDT", price_bin=2)
    view.__panel__()
    for ratio in (1.5, 4.0):
        view.imbalance_ratio = ratio
        ref = reference(engine, "SOLUSDT", view._window_start, 2, ratio=ratio)
        got = view.levels().sort_values(["bar_time", "price"]).reset_index(drop=True)
        exp = ref.levels.sort_values(["bar_time", "price"]).reset_index(drop=True)
        for col in ("buy_imbalance", "sell_imbalance", "stacked_buy", "stacked_sell"):
            np.testing.assert_array_equal(got[col], exp[col], err_msg=col)


def test_live_bar_updates_and_closes(fed) -> None:
    engine, feed, _ = fed
    view = FootprintView(engine=engine, symbol="BTCUSDT", price_bin=5)
    view.__panel__()
    live_start = view._live_start
    asyncio.run(feed.push(feed.trades(live_start + 100, live_start + MINUTE - 1, 600)))
    view.refresh()
    ref = reference(engine, "BTCUSDT", view._window_start, 5)
    assert float(view.bars()["volume"].sum()) == pytest.approx(float(ref.bars["volume"].sum()))
    live = pd.DataFrame(view._live.cells.data)
    assert set(live["bar_time"]) == {live_start}
    # Trades of the next minute close the live bar: it moves to the closed layer unchanged.
    closed_volume = float(view._live_fp.bars["volume"].sum())
    asyncio.run(feed.push(feed.trades(live_start + MINUTE, live_start + MINUTE + 500, 30)))
    view.refresh()
    assert view._live_start == live_start + MINUTE
    done = view._done_bars.set_index("bar_time")
    assert float(done.loc[live_start, "volume"]) == pytest.approx(closed_volume)


def test_timeframe_change_keeps_time_range(fed) -> None:
    engine, _, _ = fed
    view = FootprintView(engine=engine, symbol="BTCUSDT", price_bin=5)
    view.__panel__()
    kept = view._live_start
    view._x_range.start, view._x_range.end = kept - 20 * MINUTE, kept - 10 * MINUTE
    view.timeframe = "3m"
    assert (view._x_range.start, view._x_range.end) == (kept - 20 * MINUTE, kept - 10 * MINUTE)
    assert set(view.bars()["bar_time"] % (3 * MINUTE)) == {0}


def test_mode_changes_cell_geometry(fed) -> None:
    engine, _, _ = fed
    view = FootprintView(engine=engine, symbol="BTCUSDT", price_bin=5)
    view.__panel__()
    levels = view.levels()
    view.mode = "delta"
    cells = pd.concat([pd.DataFrame(layer.cells.data) for layer in (view._done, view._live)])
    assert len(cells) == len(levels)  # one quad per level
    centre = cells["bar_time"] + MINUTE / 2
    buy_side = cells["left"] >= centre
    np.testing.assert_array_equal(buy_side.to_numpy(), (cells["delta"] >= 0).to_numpy())


def test_labels_only_when_zoomed_in(fed) -> None:
    engine, _, _ = fed
    view = FootprintView(engine=engine, symbol="BTCUSDT", price_bin=5)
    view.__panel__()
    assert len(view._done.left_text.data["x"]) == 0  # 24 bars in view: too many to read
    tf = MINUTE
    bars = view._done_bars.tail(4)
    view._x_range.start, view._x_range.end = (
        float(bars["bar_time"].iloc[0]),
        float(bars["bar_time"].iloc[-1] + tf),
    )
    view._y_range.start, view._y_range.end = (
        float(bars["low"].min()),
        float(bars["low"].min()) + 20 * 0.5,
    )
    view.refresh()
    texts = view._done.left_text.data["text"]
    assert len(texts) > 0
    inside = view._done_levels[
        view._done_levels["bar_time"].between(
            bars["bar_time"].iloc[0] - tf, bars["bar_time"].iloc[-1]
        )
    ]
    assert sorted(texts) == sorted(fg.compact(inside["bid_volume"].to_numpy()))


def test_auto_bin_targets_level_count() -> None:
    assert auto_bin(np.array([140, 140, 140])) == 10
    assert auto_bin(np.array([])) == 1
    assert auto_bin(np.array([3, 5])) == 1


def test_unknown_symbol_waits(fed) -> None:
    engine, _, _ = fed
    view = FootprintView(engine=engine, symbol="NOPEUSDT")
    view.__panel__()
    assert "waiting" in view._info.object
