"""Minute history from 1m klines: exactly the flow of the minutes' trades, and hours of it at once.

The stand-in has a generated past (its klines and aggTrades agree, tests/standin/test_past.py)
and runs on a manual clock. References: the imbalance of the exchange's own trades per minute
(`imbalance_heatmap` over its ground truth and its REST aggTrades), computed apart from klines.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.imbalance import ImbalanceTracker, imbalance_heatmap
from pipelines.binance.parsers import parse_klines
from pipelines.engine.rest import RestClient
from pipelines.engine.service import Engine, EngineConfig
from pipelines.records.timeunits import HOUR_MS, MINUTE_MS
from pipelines.standin.clock import ManualClock
from pipelines.standin.server import StandIn

pytestmark = pytest.mark.slow


def trades_frame(rows: list[dict]) -> pd.DataFrame:
    """REST aggTrades rows in the archive layout `imbalance_heatmap` reads."""
    return pd.DataFrame(
        {
            "agg_trade_id": [r["a"] for r in rows],
            "price": [float(r["p"]) for r in rows],
            "quantity": [float(r["q"]) for r in rows],
            "transact_time": [r["T"] for r in rows],
            "is_buyer_maker": [r["m"] for r in rows],
        }
    )


async def all_trades(rest: RestClient, symbol: str, start: int, end: int) -> list[dict]:
    rows, t = [], start
    while True:
        page = await rest.agg_trades_page(symbol, start_ms=t, end_ms=end - 1)
        fresh = [r for r in page if not rows or r["a"] > rows[-1]["a"]]
        rows += fresh
        if len(page) < 1000 or not fresh:
            return rows
        t = page[-1]["T"]


async def test_kline_minutes_equal_the_minutes_of_the_trades() -> None:
    # The stand-in's clock starts at the wall clock (the warm-up asks up to the wall clock).
    start = int(time.time() * 1000)
    clock = ManualClock(start)
    async with StandIn(symbols=8, rate=60, seed=9, clock=clock, history_s=3 * 3600) as exchange:
        engine = Engine(
            EngineConfig(
                rest_url=exchange.rest_url,
                ws_url=exchange.ws_url,
                book_depth=False,
                signals=False,
                warm_hours=2.0,
            )
        )
        await engine.start()
        for _ in range(240):  # four minutes of market, a half second at a time
            await clock.advance(1_000)
            await asyncio.sleep(0.02)
        deadline = time.monotonic() + 60
        warmup = engine.warmup
        while not (warmup.progress.complete and not warmup.seams_pending):
            assert time.monotonic() < deadline, "the warm-up did not finish"
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.3)
        await engine.flush()
        now = clock.now_ms()
        tracker = engine.analytics.imbalance
        live = tracker.heatmap(now, 3 * 60)
        progress = engine.warmup.progress
        symbols = engine.registry.symbols
        async with RestClient(exchange.rest_url) as rest:
            # The same live minutes from klines alone, into a tracker of their own.
            from_klines = ImbalanceTracker(engine.registry)
            for symbol in symbols:
                body = await rest.klines(symbol, "1m", limit=10, end_ms=now)
                from_klines.fill_from_klines(engine.registry.index(symbol), parse_klines(body), now)
            # The warmed past against the exchange's trades of a few of its minutes.
            past_end = (start // MINUTE_MS) * MINUTE_MS
            past = {
                s: await all_trades(rest, s, past_end - 4 * MINUTE_MS, past_end) for s in symbols
            }
        truth = {s: exchange.ground_truth(s) for s in symbols}
        await engine.stop()

    assert progress.complete and progress.failed == 0
    # One request of 121 rows per contract, and one of a row for each contract warmed before
    # the engine's first minute closed.
    assert progress.weight == 2 * len(symbols) + progress.seams
    first_whole = tracker.first_minute + 1
    last_closed = now // MINUTE_MS - 1
    whole = [m * MINUTE_MS for m in range(first_whole, last_closed + 1)]
    assert len(whole) >= 2
    klines_map = from_klines.heatmap(now, 3 * 60)
    compared = 0
    for symbol in symbols:
        # Minutes the engine saw whole: its own trades and the klines give the same flow.
        expected = imbalance_heatmap(
            truth[symbol].drop(columns="symbol"), now, minutes=10, symbol=symbol
        )
        # Of its first minute the engine saw only the end: that minute is the kline's, whole.
        for minute in [tracker.first_minute * MINUTE_MS, *whole]:
            mine, theirs = live.loc[symbol, minute], klines_map.loc[symbol, minute]
            assert mine == theirs or (np.isnan(mine) and np.isnan(theirs)), (symbol, minute)
            if minute in whole:
                assert theirs == expected.loc[symbol, minute] or np.isnan(theirs)
            compared += 1
        # Before the start, the warm-up's minutes are those of the exchange's trades.
        trades = trades_frame(past[symbol])
        reference = imbalance_heatmap(trades, past_end - 1, minutes=3, symbol=symbol)
        for minute in reference.columns:
            value = reference.loc[symbol, minute]
            assert live.loc[symbol, minute] == value or np.isnan(value), (symbol, minute)
        assert tracker.is_from_klines(symbol, np.array(reference.columns)).all()
        # Two hours of minutes (the stand-in's quietest contracts have empty ones).
        traded = live.loc[symbol].dropna().index
        assert traded.min() <= now - 2 * HOUR_MS + 5 * MINUTE_MS, symbol
    assert compared >= 2 * len(symbols)
