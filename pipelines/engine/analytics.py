"""The analytics of the engine, fed one micro-batch at a time: big taker orders, imbalance,
liquidations. Attached by the Engine (`engine.analytics`); views read their snapshots.

ADV (average daily volume) for the big-order rule comes from REST daily klines: `load_adv`
fetches it for the contracts given (weight 1 each, inside the client's budget). Its caller
(dashboard.runtime) runs it at start, for new listings and again after each UTC midnight.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from pipelines.bigflow import DEFAULT_ADV_DAYS, TakerOrderDetector, average_daily_volume
from pipelines.binance.parsers import parse_klines
from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.batch import EngineBatch
from pipelines.engine.rest import RestClient, RestError
from pipelines.imbalance import ImbalanceTracker
from pipelines.liquidations import LiquidationTracker

log = logging.getLogger(__name__)


class OrderFlowAnalytics:
    def __init__(self, registry: SymbolRegistry) -> None:
        self.registry = registry
        # Fills of one taker order share T and are pushed together (aggTrade updates every
        # 100 ms): a run is complete once the exchange clock is 300 ms past it.
        self.orders = TakerOrderDetector(registry, grace_ms=300)
        self.imbalance = ImbalanceTracker(registry)
        self.liquidations = LiquidationTracker(registry)

    def update(self, batch: EngineBatch) -> None:
        self.orders.update(batch.trades)
        # A sweep's last aggTrade may come in the next batch; close runs once they are stale by
        # the exchange's clock (network lag delays both the fills and the clock alike).
        self.orders.flush(batch.exchange_ms or batch.created_ms)
        self.imbalance.update(batch.trades)
        if batch.books:
            self.imbalance.update_books(batch.books)
        if len(batch.liquidations):
            self.liquidations.update(batch.liquidations)

    async def load_adv(
        self, rest: RestClient, symbols: Iterable[str], days: int = DEFAULT_ADV_DAYS
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
            self.orders.set_adv({symbol: average_daily_volume(klines, now_ms, days)})
            done += 1
        return done
