"""Open interest from the stand-in's REST openInterest: the exchange's figure, its change, and
a quantity's share of it."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.engine.service import Engine, EngineConfig
from pipelines.standin.server import StandIn

pytestmark = pytest.mark.slow


async def test_every_contract_reads_the_exchanges_open_interest() -> None:
    async with StandIn(symbols=8, rate=100, seed=4) as exchange:
        engine = Engine(
            EngineConfig(rest_url=exchange.rest_url, ws_url=exchange.ws_url, book_depth=False)
        )
        await engine.universe.refresh()
        symbols = sorted(engine.registry.active)
        exchange.pause()  # freeze the truth while the engine reads it
        for symbol in symbols:
            assert await engine.open_interest.poll(symbol)
        names = list(exchange.formats.names)
        for symbol in symbols:
            sym = names.index(symbol)
            steps = round(float(exchange.derivatives.open_interest[sym]))
            want = float(exchange.formats.qty(steps, sym))
            assert engine.open_interest.latest()[symbol] == want
        # Two readings: the change is between them; a share is quantity / open interest.
        first = symbols[0]
        oi = engine.open_interest.latest()[first]
        engine.open_interest.record(first, exchange.clock.now_ms() + 60_000, oi * 1.05)
        assert engine.open_interest.change_pct()[first] == pytest.approx(5.0)
        share = engine.open_interest.share_pct([first, "NOPEUSDT"], [oi * 1.05 / 100, 1.0])
        assert share[0] == pytest.approx(1.0) and np.isnan(share[1])
        await engine.rest.close()
