"""The engine's lag is measured on the exchange's clock (exchangeInfo's serverTime), so a
replayed past or a skewed exchange clock does not read as hours of lag."""

from __future__ import annotations

import asyncio
import time

from pipelines.engine.service import Engine

REPLAYED_NOW = 1_723_161_600_000  # 2024-08-09 00:00 UTC: the clock of a replayed capture


class ReplayedExchange:
    """exchangeInfo of an exchange whose clock reads REPLAYED_NOW, with no contracts."""

    async def exchange_info(self) -> dict:
        return {"serverTime": REPLAYED_NOW, "symbols": []}


def test_lag_is_measured_on_the_exchange_clock() -> None:
    engine = Engine()
    engine.universe.rest = ReplayedExchange()
    asyncio.run(engine.universe.refresh())
    offset = engine.universe.clock_offset_ms
    assert abs(offset - (REPLAYED_NOW - time.time() * 1000)) < 5_000
    engine._newest_event_ms = REPLAYED_NOW - 1_000  # the newest trade frame's event time
    lag = engine.status().lag_ms
    assert 1_000 <= lag < 10_000  # seconds, not the 2 years between the capture and now
