"""REST history while live: the store equals the stand-in's generated past and live trades,
seam included, and a footprint over the range equals one rebuilt from the exchange's trades."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.footprint import FootprintRules, footprint_from_records
from pipelines.engine.service import Engine, EngineConfig
from pipelines.records.timeunits import HOUR_MS
from pipelines.standin.history import to_trade_records
from pipelines.standin.server import StandIn
from pipelines.storage.store import Store

pytestmark = pytest.mark.slow

FIELDS = ("agg_id", "first_id", "last_id", "time", "price", "qty", "buyer_maker")


def exchange_trades(ex: StandIn, sym: int, from_id: int, to_id: int) -> np.ndarray:
    """Every trade the stand-in made with from_id <= id <= to_id, read from its market."""
    pages, next_id = [], from_id
    while next_id <= to_id:
        page = ex.market.agg_trades(sym, from_id=next_id, limit=1000)
        if len(page) == 0:
            break
        pages.append(page)
        next_id = int(page["agg_id"][-1]) + 1
    rows = np.concatenate(pages)
    return to_trade_records(rows[rows["agg_id"] <= to_id], sym)


def first_id_at(ex: StandIn, sym: int, time_ms: int) -> int:
    return int(ex.market.agg_trades(sym, start_time=time_ms, limit=1)["agg_id"][0])


async def test_two_hours_of_three_contracts_while_live_equal_the_exchange(tmp_path) -> None:
    db = str(tmp_path / "orderflow.db")
    async with StandIn(symbols=6, rate=20.0, seed=7, history_s=6 * 3600) as ex:
        symbols = ex.market.symbols[:3]
        engine = Engine(
            EngineConfig(rest_url=ex.rest_url, ws_url=ex.ws_url, db_path=db, book_depth=False)
        )
        await engine.start()
        try:
            while not all(engine.sequencer.last_id[engine.registry.index(s)] >= 0 for s in symbols):
                await asyncio.sleep(0.2)  # every contract has its first live trade
            first_live = {
                s: int(engine.sequencer.first_id[engine.registry.index(s)]) for s in symbols
            }
            start = ex.clock.now_ms() - 2 * HOUR_MS
            loads = [engine.load_history(s, start) for s in symbols]
            assert engine.load_history(symbols[0], start + 1) is loads[0]  # shared, not repeated
            done = [await load.wait() for load in loads]
            await asyncio.sleep(1.0)  # live keeps flowing after the load
            ex.pause()
            await engine.reconcile()
            await asyncio.to_thread(engine.writer.flush, 30)
            rules = {
                s: FootprintRules.make(engine.registry.spec(s), price_bin_ticks=5, timeframe="5m")
                for s in symbols
            }
            footprints = {
                s: engine.footprint(s, start, ex.clock.now_ms() + 1, rules[s]) for s in symbols
            }
            throttled = (engine.rest.stats.throttled, engine.rest.stats.banned)
        finally:
            await engine.stop()

        assert throttled == (0, 0)
        with Store(db) as store:
            for symbol, progress in zip(symbols, done, strict=True):
                sym = ex.market.index(symbol)
                stored, spec = store.load_trades(symbol, start, ex.clock.now_ms() + 1)
                assert Decimal(spec.tick_size) == Decimal(ex.market.contracts[sym].spec.tick_size)
                first = first_id_at(ex, sym, start)
                last = int(ex.market.history.symbol_trades(sym)["agg_id"][-1])
                truth = exchange_trades(ex, sym, first, last)
                # The seam: history below the first live trade, live from it on, no hole.
                assert truth["agg_id"][0] < first_live[symbol] < truth["agg_id"][-1]
                assert len(stored) == len(truth) > 2000
                for name in FIELDS:
                    np.testing.assert_array_equal(stored[name], truth[name], err_msg=name)
                assert progress.error == "" and progress.share == 1.0
                assert progress.trades == int((truth["agg_id"] < first_live[symbol]).sum())
                assert progress.weight == 20 * progress.requests

                mine = truth.copy()
                mine["sym"] = engine.registry.index(symbol)
                expected = footprint_from_records(mine, engine.registry.spec(symbol), rules[symbol])
                got = footprints[symbol]
                for part in ("bars", "levels"):
                    pd.testing.assert_frame_equal(
                        getattr(got, part).reset_index(drop=True),
                        getattr(expected, part).reset_index(drop=True),
                    )


async def test_a_history_load_waits_for_the_minute_history_of_every_contract() -> None:
    async with StandIn(symbols=4, rate=20.0, seed=3, history_s=3600) as ex:
        engine = Engine(
            EngineConfig(rest_url=ex.rest_url, ws_url=ex.ws_url, book_depth=False, warm_hours=0)
        )
        await engine.start()
        try:
            engine.warmup.first_pass_running = True  # as while the warm-up's first pass runs
            load = engine.load_history(ex.market.symbols[0], ex.clock.now_ms() - 10 * 60_000)
            await asyncio.sleep(1.5)
            waited = (load.progress.requests, load.done)
            engine.warmup.first_pass_running = False
            done = await load.wait()
        finally:
            await engine.stop()
    assert waited == (0, False)  # not one page while the warm-up ran
    assert done.requests > 0 and done.trades > 0 and not done.error
