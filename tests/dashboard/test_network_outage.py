"""Network off and on: the header shows the outage within seconds and the engine recovers alone."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from dashboard.header import status_html
from pipelines.engine.connection import ConnectionSettings
from pipelines.engine.service import Engine, EngineConfig
from pipelines.standin.server import StandIn
from tests.engine.test_end_to_end import assert_equals_truth

pytestmark = pytest.mark.slow


async def wait_for(predicate, timeout: float) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - start


def newest_ids(engine: Engine, exchange: StandIn) -> dict[str, int]:
    """The exchange's newest trade id of every contract the engine follows."""
    return {
        symbol: int(exchange.ground_truth(symbol)["agg_trade_id"].to_numpy().max(initial=0))
        for symbol in engine.registry.symbols
    }


def held_newest_ids(engine: Engine) -> dict[str, int]:
    """The engine's newest trade id of every contract it has seen a trade of."""
    return {
        symbol: int(held["agg_id"][-1])
        for symbol in engine.registry.symbols
        if len(held := engine.trades(symbol))
    }


async def test_outage_is_shown_and_recovered_without_loss():
    async with StandIn(symbols=12, rate=300, seed=9) as exchange:
        # Production settings except a shorter backoff ceiling, so the test waits less.
        engine = Engine(
            EngineConfig(
                rest_url=exchange.rest_url,
                ws_url=exchange.ws_url,
                connection=ConnectionSettings(backoff_max_s=4.0),
            )
        )
        await engine.start()
        await wait_for(lambda: engine.status().connected, 10)
        assert "LIVE" in status_html(engine.status())

        await exchange.network_down()
        seen_before_outage = held_newest_ids(engine)
        shown_after = await wait_for(lambda: "DISCONNECTED" in status_html(engine.status()), 10)
        assert shown_after < 3.0
        await asyncio.sleep(5)  # trades continue on the exchange, unseen

        after_outage = newest_ids(engine, exchange)
        await exchange.network_up()
        await wait_for(lambda: engine.status().connected, 15)
        await wait_for(
            lambda: engine.status().gaps_open == 0 and engine.status().gaps_found > 0, 20
        )
        assert "LIVE" in status_html(engine.status())
        exchange.pause()  # freeze the truth, then fetch the tail
        await engine.reconcile()
        await engine.stop()
        assert assert_equals_truth(engine, exchange) > 0
    # The trades made after the last one the engine saw before the outage, up to its end:
    # every one came back (by REST).
    made_in_outage = 0
    for symbol, before in seen_before_outage.items():
        ids = np.arange(before + 1, after_outage[symbol] + 1)
        assert np.isin(ids, engine.trades(symbol)["agg_id"]).all(), symbol
        made_in_outage += len(ids)
    assert made_in_outage > 0
