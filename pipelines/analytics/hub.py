"""The analytics the engine feeds one micro-batch at a time: big orders, imbalance, liquidations.

The engine attaches one `OrderFlowAnalytics` (`engine.analytics`); views read its trackers'
snapshots. ADV for the big-order rule is set from outside (`BigOrderDetector.set_adv`): the
engine loads it from REST daily klines (`pipelines.engine.adv`), an analyst from anywhere.
"""

from __future__ import annotations

from pipelines.analytics.bigorders import BigOrderDetector
from pipelines.analytics.imbalance import ImbalanceTracker
from pipelines.analytics.liquidations import LiquidationTracker
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.batch import EngineBatch


class OrderFlowAnalytics:
    def __init__(self, registry: SymbolRegistry) -> None:
        self.registry = registry
        # Fills of one taker order share T and are pushed together (aggTrade updates every
        # 100 ms): a run is complete once the exchange clock is 300 ms past it.
        self.orders = BigOrderDetector(registry, grace_ms=300)
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
