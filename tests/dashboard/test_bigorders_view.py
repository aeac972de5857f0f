"""BigOrdersView: rows streamed to the table equal big orders found by a naive loop."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pandas as pd
import pytest

from dashboard.bigorders import BigOrdersView, matches
from pipelines.engine.service import Engine
from pipelines.records.dtypes import TRADE_DTYPE
from tests.dashboard.feed import Feed

ADV = {"BTCUSDT": 1e9, "ETHUSDT": 5e8, "SOLUSDT": 1e9}


def sweep(
    engine, feed, symbol: str, time_ms: int, prices: list[float], qty: float, sell: bool
) -> np.ndarray:
    spec = engine.registry.spec(symbol)
    sym = engine.registry.index(symbol)
    rows = np.zeros(len(prices), dtype=TRADE_DTYPE)
    rows["sym"] = sym
    rows["time"] = rows["event_time"] = time_ms
    rows["agg_id"] = rows["first_id"] = rows["last_id"] = feed.next_id[sym] + np.arange(len(prices))
    feed.next_id[sym] += len(prices)
    rows["price"] = spec.price_to_ticks(np.array(prices))
    rows["qty"] = spec.qty_to_steps(qty)
    rows["buyer_maker"] = sell
    return rows


def naive_big(engine, since: int, threshold_pct: float, min_notional: float = 0.0) -> pd.DataFrame:
    """Runs of same symbol/time/side/consecutive ids by a loop over the trades at or after
    `since` (when the ADV was known); notional summed in floats per trade."""
    rows = []
    for symbol in ADV:
        trades = engine.trades(symbol, since)
        spec = engine.registry.spec(symbol)
        run: list = []
        for t in [*list(trades), None]:
            if run and (
                t is None
                or t["time"] != run[-1]["time"]
                or t["buyer_maker"] != run[-1]["buyer_maker"]
                or t["agg_id"] != run[-1]["agg_id"] + 1
            ):
                notional = sum(
                    float(spec.ticks_to_price(r["price"])) * float(spec.steps_to_qty(r["qty"]))
                    for r in run
                )
                if notional >= threshold_pct / 100 * ADV[symbol] and notional >= min_notional:
                    rows.append(
                        (
                            symbol,
                            int(run[0]["time"]),
                            "sell" if run[0]["buyer_maker"] else "buy",
                            round(notional, 2),
                            len(run),
                        )
                    )
                run = []
            if t is not None:
                run.append(t)
    return (
        pd.DataFrame(rows, columns=["symbol", "time", "side", "notional", "fills"])
        .sort_values(["time", "symbol"])
        .reset_index(drop=True)
    )


def table_rows(view: BigOrdersView) -> pd.DataFrame:
    frame = view.table.value.loc[:, ["symbol", "time", "side", "notional", "fills"]].copy()
    frame["notional"] = frame["notional"].round(2)
    return frame.sort_values(["time", "symbol"]).reset_index(drop=True)


@pytest.fixture
def market():
    """An unstarted engine whose contracts have an ADV before any trade arrives."""
    engine = Engine()
    feed = Feed(engine)
    engine.analytics.orders.set_adv(ADV)
    return engine, feed, int(time.time() * 1000)


def feed_orders(market):
    engine, feed, now = market
    t0 = now - 60_000
    batch = np.concatenate(
        [
            feed.trades(t0 - 50_000, t0, 3_000),
            sweep(engine, feed, "BTCUSDT", t0, [65000.0, 65000.1, 65000.2], 100.0, False),
            sweep(engine, feed, "ETHUSDT", t0 + 10, [3000.0, 2999.99], 500.0, True),
            sweep(engine, feed, "SOLUSDT", t0 + 20, [150.0], 10000.0, False),
        ]
    )
    asyncio.run(feed.push(batch))
    engine.analytics.orders.flush()
    return engine, feed, t0 - 50_000


def test_rows_equal_naive_reference_and_follow_filters(market) -> None:
    engine = market[0]
    view = BigOrdersView(engine=engine)
    view.__panel__()
    _, _, t0 = feed_orders(market)
    view.refresh()
    expected = naive_big(engine, t0, 0.5)
    assert len(expected) >= 1
    pd.testing.assert_frame_equal(table_rows(view), expected, check_dtype=False)
    view.threshold_pct = 0.1
    pd.testing.assert_frame_equal(table_rows(view), naive_big(engine, t0, 0.1), check_dtype=False)
    view.min_notional = 150_000
    pd.testing.assert_frame_equal(
        table_rows(view), naive_big(engine, t0, 0.1, 150_000), check_dtype=False
    )
    view.symbol_filter = "eth"
    assert set(view.table.value["symbol"]) <= {"ETHUSDT"}


def test_streams_only_new_rows_and_pause_keeps_them(market) -> None:
    engine = market[0]
    view = BigOrdersView(engine=engine, threshold_pct=0.1)
    view.__panel__()
    before = len(view.table.value)
    view.paused = True
    _, _, t0 = feed_orders(market)
    view.refresh()
    assert len(view.table.value) == before  # paused: nothing added
    view.paused = False  # resuming streams what arrived meanwhile
    pd.testing.assert_frame_equal(table_rows(view), naive_big(engine, t0, 0.1), check_dtype=False)
    beeps = view.beeper.count
    assert beeps >= 1


def test_symbol_match_parts() -> None:
    symbols = pd.Series(["BTCUSDT", "ETHUSDT", "ETHBTC", "SOLUSDT"])
    assert matches(symbols, "btc").tolist() == [True, False, True, False]
    assert matches(symbols, " eth , sol").tolist() == [False, True, True, True]
    assert matches(symbols, "").all()
