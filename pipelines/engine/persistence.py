"""What the analytics found, kept in the store beside the trades: big orders and minute imbalance.

After each batch, the big orders detected since the last one (at the detector's keep rule, the
widest any view can ask for) and, once a minute has closed, every contract's taker flow of that
minute go to the writer's queue (which never makes the live path wait). A restart then shows the last hours of both from the store.
"""

from __future__ import annotations

import logging

from pipelines.analytics.hub import OrderFlowAnalytics
from pipelines.analytics.imbalance import ImbalanceTracker
from pipelines.records.batch import EngineBatch
from pipelines.records.timeunits import MINUTE_MS
from pipelines.storage.store import Store
from pipelines.storage.writer import StoreWriter

log = logging.getLogger(__name__)

# Minute imbalances reloaded on start: the heatmap's longest everyday span.
RESTORE_IMBALANCE_MINUTES = 240

# A minute's flow is final once the exchange clock is this far past its end (late trades of a
# minute come with the next aggTrade push, at most a few hundred ms later).
_MINUTE_SETTLE_MS = 2_000


class AnalyticsPersister:
    def __init__(self, analytics: OrderFlowAnalytics, writer: StoreWriter) -> None:
        self.analytics = analytics
        self.writer = writer
        self._order_seq = analytics.orders.last_seq
        self._next_minute: int | None = None  # open time of the next minute to persist

    def __call__(self, batch: EngineBatch) -> None:
        detector = self.analytics.orders
        orders = detector.big_since(self._order_seq, threshold=detector.keep_fraction)
        if len(orders):
            self._order_seq = int(orders["seq"].max())
            self.writer.submit_big_orders(orders.drop(columns="seq"))
        now = batch.exchange_ms or batch.created_ms
        if self._next_minute is None:
            # The minute the engine started in is partial here: an upsert of it would overwrite
            # the complete one a previous run stored.
            self._next_minute = now // MINUTE_MS * MINUTE_MS + MINUTE_MS
        settled = (now - _MINUTE_SETTLE_MS) // MINUTE_MS * MINUTE_MS - MINUTE_MS
        while self._next_minute <= settled:
            minute = self.analytics.imbalance.minute_totals(self._next_minute)
            if len(minute):
                self.writer.submit_imbalances(minute)
            self._next_minute += MINUTE_MS


def restore_imbalances(
    store: Store | None,
    tracker: ImbalanceTracker,
    now_ms: int,
    minutes: int = RESTORE_IMBALANCE_MINUTES,
) -> int:
    """The stored minute imbalances of the last `minutes` into the tracker (a restart then
    shows the heatmap's history at once); returns the rows taken, 0 when the store fails."""
    if store is None:
        return 0
    minutes = min(minutes, tracker.history_minutes)
    try:
        rows = store.load_imbalances(now_ms - minutes * MINUTE_MS, now_ms)
    except Exception as exc:  # a store that cannot be read must not stop the start
        log.warning("minute imbalances not restored: %r", exc)
        return 0
    return tracker.restore(rows)
