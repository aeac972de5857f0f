"""What the analytics found, kept in the store beside the trades: big orders, minute imbalance
and order-flow signals.

After each batch, the big orders detected since the last one (at the detector's keep rule, the
widest any view can ask for), the signals of the bars closed since the last one and, once a
minute has closed, every contract's taker flow of that minute go to the writer's queue (which
never makes the live path wait). A restart then shows the last hours of them from the store.
"""

from __future__ import annotations

import logging

import numpy as np

from pipelines.analytics.hub import OrderFlowAnalytics
from pipelines.analytics.imbalance import ImbalanceTracker
from pipelines.analytics.signal_tracker import SignalTracker
from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.history import same_grid
from pipelines.records.batch import EngineBatch
from pipelines.records.timeunits import HOUR_MS, MINUTE_MS
from pipelines.storage.store import Store
from pipelines.storage.writer import StoreWriter

log = logging.getLogger(__name__)

# Minute imbalances reloaded on start: the heatmap's longest everyday span.
RESTORE_IMBALANCE_MINUTES = 240
# Signals reloaded on start (by bar open): the same four hours, the screen's longest span.
RESTORE_SIGNALS_MS = 4 * HOUR_MS

# A minute's flow is final once the exchange clock is this far past its end (late trades of a
# minute come with the next aggTrade push, at most a few hundred ms later).
_MINUTE_SETTLE_MS = 2_000


class AnalyticsPersister:
    def __init__(self, analytics: OrderFlowAnalytics, writer: StoreWriter) -> None:
        self.analytics = analytics
        self.writer = writer
        self._order_seq = analytics.orders.last_seq
        # Signals restored from the store before this persister exists are not sent back.
        self._signal_seq = analytics.signals.last_seq if analytics.signals is not None else 0
        self._next_minute: int | None = None  # open time of the next minute to persist

    def __call__(self, batch: EngineBatch) -> None:
        detector = self.analytics.orders
        orders = detector.big_since(self._order_seq, threshold=detector.keep_fraction)
        if len(orders):
            self._order_seq = int(orders["seq"].max())
            self.writer.submit_big_orders(orders.drop(columns="seq"))
        signals = self.analytics.signals
        if signals is not None and signals.last_seq > self._signal_seq:
            rows, _ = signals.since(self._signal_seq)
            self._signal_seq = signals.last_seq
            if len(rows):
                self.writer.submit_signals(rows)
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


def restore_signals(
    store: Store | None,
    tracker: SignalTracker | None,
    now_ms: int,
    window_ms: int = RESTORE_SIGNALS_MS,
) -> int:
    """The stored signals of the bars opened in the last `window_ms` into the tracker (a
    restart then shows them at once); returns the rows taken, 0 when the store fails.

    Contracts the engine does not list, or whose grid changed since, are left out: their
    stored integers do not mean the same prices on the engine's grid.
    """
    if store is None or tracker is None:
        return 0
    try:
        rows, stored = store.load_signals(now_ms - window_ms, now_ms)
    except Exception as exc:  # a store that cannot be read must not stop the start
        log.warning("signals not restored: %r", exc)
        return 0
    return tracker.restore(_on_registry(rows, stored, tracker.registry))


def _on_registry(rows: np.ndarray, stored: SymbolRegistry, registry: SymbolRegistry) -> np.ndarray:
    """Rows indexed in `stored` re-indexed in `registry` (-1 where it cannot take them)."""
    to_index = np.full(len(stored), -1, np.int64)
    for i, symbol in enumerate(stored.symbols):
        j = registry.index(symbol)
        if j is not None and same_grid(stored.spec(i), registry.spec(j)):
            to_index[i] = j
    rows = rows.copy()
    rows["sym"] = to_index[rows["sym"]]
    return rows[rows["sym"] >= 0]
