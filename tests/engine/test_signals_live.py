"""The engine's live signals over a stand-in run equal the signals of the exchange's own trades.

The stand-in runs on a manual clock (five and a bit minutes of market in well under a minute),
so whole 1-minute bars and a whole 5-minute bar close; the engine closes them as its trades
arrive. The reference is `orderflow research signals`' computation of the contract-day
(`research.signal_day.day_signals`) over the stand-in's ground truth from the first whole minute
the engine saw: the same bars from the exchange's side.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.footprint import TIMEFRAMES_MS as TF_MS
from pipelines.analytics.signals import signal_frame
from pipelines.analytics.tradeframe import frame_records
from pipelines.engine.service import Engine, EngineConfig
from pipelines.records.timeunits import DAY_MS, MINUTE_MS
from pipelines.research.signal_day import day_signals
from pipelines.research.sources import DayTrades
from pipelines.standin.clock import ManualClock
from pipelines.standin.server import StandIn

pytestmark = pytest.mark.slow

FIVE_MINUTES = 5 * MINUTE_MS


async def run_market(exchange: StandIn, clock: ManualClock, until_ms: int) -> None:
    """Move the stand-in's time on in half seconds, letting the engine take each one in."""
    while clock.now_ms() < until_ms:
        await clock.advance(500)
        await asyncio.sleep(0.03)


async def test_live_signals_equal_the_signals_of_the_exchanges_trades() -> None:
    # Start 3 s before a 5-minute boundary: the engine's first whole minute opens a 5m bar.
    start = (1_790_000_000_000 // FIVE_MINUTES + 1) * FIVE_MINUTES - 3_000
    clock = ManualClock(start)
    async with StandIn(symbols=12, rate=150, seed=5, clock=clock) as exchange:
        engine = Engine(
            EngineConfig(rest_url=exchange.rest_url, ws_url=exchange.ws_url, book_depth=False)
        )
        await engine.start()
        tracker = engine.analytics.signals
        deadline = asyncio.get_running_loop().time() + 60
        while tracker.first_minute is None and asyncio.get_running_loop().time() < deadline:
            await clock.advance(100)
            await asyncio.sleep(0.05)
        first = tracker.first_minute * MINUTE_MS
        assert first % FIVE_MINUTES == 0, "the clock's start did not fall before a 5m boundary"
        # One whole 5m bar and its five minutes, closed by the clock's 2 s rule at the latest.
        await run_market(exchange, clock, first + FIVE_MINUTES + 3_000)
        await asyncio.sleep(0.5)  # the last batch (real time: the engine's batch interval)
        await engine.flush()
        live, _ = tracker.since(0)
        late = tracker.late_trades
        symbols = engine.registry.symbols
        truth = {s: exchange.ground_truth(s) for s in symbols}
        await engine.stop()

    assert late == 0
    end = first + FIVE_MINUTES
    live = live[live["bar_time"] + live["tf_ms"] <= end]
    shown = signal_frame(live, engine.registry)
    compared = 0
    for symbol in symbols:
        frame = truth[symbol]
        frame = frame[frame["transact_time"] >= first]
        spec = engine.registry.spec(symbol)
        _, records = frame_records(frame, spec=spec, symbol=symbol)
        day = dt.date(1970, 1, 1) + dt.timedelta(days=first // DAY_MS)
        # `orderflow research signals`' own computation of that contract-day.
        expected, _ = day_signals(DayTrades(symbol, day, records, spec, grid="exchange"))
        # The 15m bar is still open live; the research closes it at the end of its data.
        expected = expected[expected["bar_time"] + expected["timeframe"].map(TF_MS) <= end]
        mine = shown[shown["symbol"] == symbol].drop(columns="symbol")
        key = ["bar_time", "timeframe", "kind", "side", "price_low"]
        mine = mine.sort_values(key, ignore_index=True)
        expected = expected[list(mine.columns)].sort_values(key, ignore_index=True)
        assert len(mine) == len(expected), symbol
        exact = [c for c in mine.columns if c != "strength"]
        pd.testing.assert_frame_equal(mine[exact], expected[exact], check_dtype=False)
        np.testing.assert_allclose(mine["strength"], expected["strength"], rtol=1e-12)
        compared += len(mine)
    assert compared > 50
    assert {5 * MINUTE_MS, MINUTE_MS} <= set(live["tf_ms"].tolist())
