"""The engine against the stand-in with faults: what it holds equals the ground truth exactly."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from pipelines.engine.connection import ConnectionSettings
from pipelines.engine.service import Engine, EngineConfig
from pipelines.standin.server import StandIn

pytestmark = pytest.mark.slow

FAULTS = "drop=0.05,stall=0.05:4,malformed=0.01,duplicate=0.02,reorder=0.02,gap=0.01,rest429=0.1"


def engine_for(exchange: StandIn, **overrides) -> Engine:
    settings = ConnectionSettings(watchdog_s=2.0, backoff_initial_s=0.1, backoff_max_s=1.0)
    config = EngineConfig(
        rest_url=exchange.rest_url,
        ws_url=exchange.ws_url,
        universe_refresh_s=1.0,
        streams_per_connection=10,  # several shards even for a small universe
        connection=settings,
        **overrides,
    )
    return Engine(config)


def assert_equals_truth(engine: Engine, exchange: StandIn) -> int:
    """Per symbol: from the first trade the engine saw, every truth trade once, field by field."""
    compared = 0
    for symbol in engine.registry.symbols:
        held = engine.trades(symbol)
        truth = exchange.ground_truth(symbol)
        if len(held) == 0:
            continue
        compared += assert_trades_equal(held, truth, engine.registry.spec(symbol), symbol)
    return compared


def assert_trades_equal(held, truth, spec, symbol: str) -> int:
    """`TRADE_DTYPE` records equal the exchange's truth from their first id on, field by field."""
    truth = truth[truth["agg_trade_id"] >= held["agg_id"][0]]
    assert held["agg_id"].tolist() == truth["agg_trade_id"].tolist(), symbol
    np.testing.assert_array_equal(held["time"], truth["transact_time"])
    np.testing.assert_array_equal(held["buyer_maker"], truth["is_buyer_maker"])
    np.testing.assert_array_equal(
        held["price"], spec.price_to_ticks(truth["price"].to_numpy(dtype=float))
    )
    np.testing.assert_array_equal(
        held["qty"], spec.qty_to_steps(truth["quantity"].to_numpy(dtype=float))
    )
    return len(held)


async def test_faults_lose_nothing_and_count_nothing_twice():
    async with StandIn(symbols=24, rate=400, seed=11, faults=FAULTS) as exchange:
        engine = engine_for(exchange)
        await engine.start()
        await asyncio.sleep(20)
        exchange.set_faults("")  # let the last gaps close
        await asyncio.sleep(4)
        exchange.pause()  # freeze the truth, then fetch any tail a dropped socket hid
        await engine.reconcile()
        status = engine.status()
        await engine.stop()
        compared = assert_equals_truth(engine, exchange)
        faults = exchange.stats()

    assert compared > 3000
    assert status.gaps_found > 0 and status.gaps_found == status.gaps_filled
    assert status.gaps_abandoned == 0 and status.trades_missing == 0
    assert status.duplicates > 0  # the stand-in did send repeats; none reached the buffer
    assert status.rejected_frames > 0  # malformed frames were seen and counted
    assert engine.rest.stats.throttled > 0 and engine.rest.stats.banned == 0
    assert sum(c.reconnects for c in status.connections) > 0, faults


async def test_listing_and_delisting_without_restart():
    async with StandIn(symbols=12, rate=300, seed=5) as exchange:
        engine = engine_for(exchange)
        await engine.start()
        await asyncio.sleep(1.5)
        victim = next(s for s in sorted(engine.registry.active) if s != "BTCUSDT")
        exchange.list_symbol("NEWCOINUSDT")
        exchange.delist_symbol(victim)
        await asyncio.sleep(4)
        assert "NEWCOINUSDT" in engine.registry.active
        assert victim not in engine.registry.active
        assert "newcoinusdt@aggTrade" in engine.streams.streams
        assert f"{victim.lower()}@aggTrade" not in engine.streams.streams
        await asyncio.sleep(2)
        assert len(engine.trades("NEWCOINUSDT")) > 0
        exchange.pause()  # freeze the truth, then fetch the tail
        await engine.reconcile()
        await engine.stop()
        assert_equals_truth(engine, exchange)


async def test_rotation_before_the_lifetime_leaves_no_gap():
    async with StandIn(symbols=10, rate=300, seed=13) as exchange:
        settings = ConnectionSettings(lifetime_s=2.0)  # rotate every 2 s instead of ~24 h
        engine = Engine(
            EngineConfig(rest_url=exchange.rest_url, ws_url=exchange.ws_url, connection=settings)
        )
        await engine.start()
        await asyncio.sleep(9)
        exchange.pause()
        await asyncio.sleep(0.5)  # the last frames in flight arrive
        await engine.flush()
        status = engine.status()
        await engine.stop()
        assert sum(c.rotations for c in status.connections) >= 6
        assert sum(c.reconnects for c in status.connections) == 0
        assert status.gaps_found == 0  # the replacement was receiving before the old one closed
        assert status.duplicates > 0  # the overlap delivered repeats, dropped by id
        assert assert_equals_truth(engine, exchange) > 1000
