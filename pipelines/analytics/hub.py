"""The analytics the engine feeds one micro-batch at a time: big orders, imbalance, liquidations
and the order-flow signals of every contract's closed bars.

The engine attaches one `OrderFlowAnalytics` (`engine.analytics`); views read its trackers'
snapshots. ADV for the big-order rule is set from outside (`BigOrderDetector.set_adv`): the
engine loads it from REST daily klines (`pipelines.engine.adv`), an analyst from anywhere.
"""

from __future__ import annotations

import pandas as pd

from pipelines.analytics.bigorders import BigOrderDetector
from pipelines.analytics.breadth import market_breadth
from pipelines.analytics.imbalance import ImbalanceTracker
from pipelines.analytics.liquidations import LiquidationTracker
from pipelines.analytics.signal_tracker import SignalTracker
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.batch import EngineBatch


class OrderFlowAnalytics:
    def __init__(self, registry: SymbolRegistry, *, signals: bool = True) -> None:
        self.registry = registry
        # Fills of one taker order share T and are pushed together (aggTrade updates every
        # 100 ms): a run is complete once the exchange clock is 300 ms past it.
        self.orders = BigOrderDetector(registry, grace_ms=300)
        self.imbalance = ImbalanceTracker(registry)
        self.liquidations = LiquidationTracker(registry)
        # None when the engine runs without signals (`EngineConfig.signals`).
        self.signals = SignalTracker(registry) if signals else None
        # One snapshot per span asked (the header's and the Imbalance tab's differ).
        self._breadth: dict[int, tuple[tuple, pd.DataFrame]] = {}

    def breadth(self, now_ms: int, minutes: int = 60) -> pd.DataFrame:
        """Market breadth per minute (analytics/breadth.py) of the last `minutes` and the
        current one; computed once per second and data change, however many views ask."""
        key = (int(now_ms) // 1000, self.orders.last_seq, self.liquidations.last_seq)
        held = self._breadth.get(minutes)
        if held is None or held[0] != key:
            start = (int(now_ms) // 60_000 - minutes) * 60_000
            orders = self.orders.big_since(0)
            frame = market_breadth(
                self.imbalance.heatmap(now_ms, minutes),
                orders[orders["time"] >= start],
                self.liquidations.frame(),  # kept by the tracker until its rows change
            )
            held = self._breadth[minutes] = (key, frame)
        return held[1]

    def update(self, batch: EngineBatch) -> None:
        self.orders.update(batch.trades)
        # A sweep's last aggTrade may come in the next batch; close runs once they are stale by
        # the exchange's clock (network lag delays both the fills and the clock alike).
        self.orders.flush(batch.exchange_ms or batch.created_ms)
        self.imbalance.update(batch.trades)
        if self.signals is not None:
            self.signals.update(
                batch.trades, batch.settled_ms or batch.exchange_ms or batch.created_ms
            )
        if batch.books:
            self.imbalance.update_books(batch.books)
        if len(batch.liquidations):
            self.liquidations.update(batch.liquidations)
