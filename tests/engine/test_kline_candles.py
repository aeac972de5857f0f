"""A footprint opened on a contract the engine holds few trades of draws the range's candles at
once from klines, equal to the candles of the exchange's own trades, and builds a bar from
trades once it holds all of them.

Reference: the footprint of the stand-in's REST aggTrades over the same minutes
(`footprint_from_records`), computed apart from klines.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.footprint import FootprintRules, footprint_from_records
from pipelines.engine.footprint_source import FootprintSource
from pipelines.engine.rest import RestClient
from pipelines.engine.service import Engine, EngineConfig
from pipelines.records.dtypes import TRADE_DTYPE
from pipelines.records.timeunits import MINUTE_MS
from pipelines.standin.clock import ManualClock
from pipelines.standin.server import StandIn
from tests.engine.test_warmup import all_trades

pytestmark = pytest.mark.slow

CANDLE = ["bar_time", "open", "high", "low", "close", "volume", "buy_volume", "sell_volume"]


def records(rows: list[dict], spec) -> np.ndarray:
    """REST aggTrades rows as the engine's trade records (integer ticks and steps)."""
    out = np.zeros(len(rows), TRADE_DTYPE)
    out["agg_id"] = [r["a"] for r in rows]
    out["price"] = spec.price_to_ticks(np.array([float(r["p"]) for r in rows]))
    out["qty"] = spec.qty_to_steps(np.array([float(r["q"]) for r in rows]))
    out["time"] = [r["T"] for r in rows]
    out["buyer_maker"] = [r["m"] for r in rows]
    return out


async def until(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_candles_from_klines_until_the_trades_are_there() -> None:
    start = int(time.time() * 1000)
    clock = ManualClock(start)
    async with StandIn(symbols=4, rate=80, seed=5, clock=clock, history_s=3 * 3600) as exchange:
        engine = Engine(
            EngineConfig(
                rest_url=exchange.rest_url,
                ws_url=exchange.ws_url,
                book_depth=False,
                signals=False,
                warm_hours=0,
                history_hours=0,
            )
        )
        await engine.start()
        for _ in range(150):  # two and a half minutes of market
            await clock.advance(1_000)
            await asyncio.sleep(0.02)
        await engine.flush()
        symbol = engine.registry.symbols[0]
        source = FootprintSource(
            engine=engine, symbol=symbol, price_bin=1, history_bars=60, clock=clock.now_ms
        )
        source.refresh()
        await until(lambda: source._candles is not None and source._candles.done)
        source.refresh()
        _, bars = source.frames()
        first_held = engine.history_start(symbol)
        async with RestClient(exchange.rest_url) as rest:
            rows = await all_trades(rest, symbol, source.start_ms, clock.now_ms())
        await engine.stop()

    spec = engine.registry.spec(symbol)
    rules = FootprintRules.make(spec, price_bin_ticks=1, timeframe="1m")
    expected = footprint_from_records(records(rows, spec), spec, rules).bars
    whole_from = -(-first_held // MINUTE_MS) * MINUTE_MS
    from_klines = bars[bars["bar_time"] < whole_from]
    from_trades = bars[bars["bar_time"] >= whole_from]
    # An hour of candles before the engine's first trade, none of them with levels.
    assert len(from_klines) >= 50 and from_klines["poc"].isna().all()
    assert from_klines["bar_time"].min() <= whole_from - 55 * MINUTE_MS
    want = expected.set_index("bar_time")
    pd.testing.assert_frame_equal(
        from_klines[CANDLE].set_index("bar_time"), want.loc[from_klines["bar_time"], CANDLE[1:]]
    )
    np.testing.assert_allclose(
        from_klines["delta"], want.loc[from_klines["bar_time"], "delta"], rtol=0, atol=1e-9
    )
    # The engine's bars are its own trades', with their levels.
    assert len(from_trades) >= 2 and from_trades["poc"].notna().all()
    closed = from_trades[from_trades["bar_time"] < source.live_start]
    pd.testing.assert_frame_equal(
        closed[CANDLE].set_index("bar_time"), want.loc[closed["bar_time"], CANDLE[1:]]
    )
    # The CVD runs through both: the sum of the deltas from the first bar.
    np.testing.assert_allclose(bars["cvd"], np.cumsum(bars["delta"]), rtol=0, atol=1e-9)
