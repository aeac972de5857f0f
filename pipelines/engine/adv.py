"""Average daily volume of every contract, for the big-order rule, from REST daily klines.

Loaded at start, for new listings, and again a few minutes after each UTC midnight (daily klines
close at midnight; the new day is served shortly after). Weight 1 per contract.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from pipelines.analytics.bigorders import (
    DEFAULT_ADV_DAYS,
    BigOrderDetector,
    average_daily_volume,
    next_refresh_ms,
)
from pipelines.binance.parsers import parse_klines
from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.rest import RestClient, RestError
from pipelines.records.timeunits import MINUTE_MS

log = logging.getLogger(__name__)

_REFRESH_DELAY_MS = 5 * MINUTE_MS


async def load_adv(
    rest: RestClient,
    detector: BigOrderDetector,
    symbols: Iterable[str],
    days: int = DEFAULT_ADV_DAYS,
) -> int:
    """Fetch daily klines and set each contract's ADV; returns how many were set."""
    now_ms = int(time.time() * 1000)
    done = 0
    for symbol in symbols:
        try:
            klines = parse_klines(await rest.klines(symbol, "1d", limit=days + 1))
        except (RestError, ValueError, KeyError, TypeError) as exc:
            log.warning("ADV of %s unavailable: %s", symbol, exc)
            continue
        # Set one by one: the screener works for the first contracts while the rest load.
        detector.set_adv({symbol: average_daily_volume(klines, now_ms, days)})
        done += 1
    return done


async def keep_adv_current(
    rest: RestClient, detector: BigOrderDetector, registry: SymbolRegistry
) -> None:
    """Run forever: ADV of every contract now, after each UTC midnight, and for new listings."""
    loaded: set[str] = set()
    refresh_at = 0
    while True:
        now_ms = int(time.time() * 1000)
        if now_ms >= refresh_at:
            loaded.clear()
            refresh_at = next_refresh_ms(now_ms, delay_ms=_REFRESH_DELAY_MS)
        todo = sorted(registry.active - loaded)
        if todo:
            await load_adv(rest, detector, todo)
            loaded.update(todo)
        await asyncio.sleep(30)
