"""Liquidations: the taker orders the exchange sends for liquidated positions, and their
`!forceOrder@arr` snapshots (the latest per contract per 1000 ms window)."""

from __future__ import annotations

import numpy as np

LIQUIDATION_DTYPE = np.dtype(
    [
        ("sym", "i4"),
        ("time", "i8"),  # T
        ("sell", "?"),  # order side SELL: a long was liquidated
        ("orig_qty", "i8"),  # q, steps
        ("price", "i8"),  # p (bankruptcy-derived order price), ticks
        ("avg_price", "f8"),  # ap, ticks (fractional)
        ("last_qty", "i8"),  # l, steps
        ("filled_qty", "i8"),  # z, steps
    ]
)


def liquidation_orders(
    liquidation: np.ndarray,
    order_of: np.ndarray,
    trades: np.ndarray,
    buy: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Liquidation orders are taker orders too: their fills are in the aggTrades."""
    orders = np.flatnonzero(liquidation)
    out = np.zeros(len(orders), dtype=LIQUIDATION_DTYPE)
    if len(orders) == 0:
        return out
    is_liq_row = liquidation[order_of]
    rows_order = order_of[is_liq_row]
    qty = trades["qty"][is_liq_row]
    price = trades["price"][is_liq_row].astype(np.float64)
    idx = np.searchsorted(orders, rows_order)
    filled = np.bincount(idx, weights=qty, minlength=len(orders))
    avg = np.bincount(idx, weights=qty * price, minlength=len(orders)) / filled
    last_row = np.flatnonzero(np.diff(idx, append=len(orders)))
    partial = rng.random(len(orders)) < 0.1
    out["sym"] = trades["sym"][is_liq_row][last_row]
    out["time"] = trades["time"][is_liq_row][last_row]
    out["sell"] = ~buy[orders]
    out["filled_qty"] = filled.astype(np.int64)
    out["orig_qty"] = np.where(partial, np.rint(filled * rng.uniform(1.1, 1.5)), filled)
    out["avg_price"] = avg
    out["last_qty"] = qty[last_row]
    # The bankruptcy-derived order price sits beyond the fills, against the liquidated side.
    worse = np.where(out["sell"], -1.0, 1.0) * rng.uniform(0.003, 0.012, len(orders))
    out["price"] = np.maximum(np.rint(avg * (1.0 + worse)), 1).astype(np.int64)
    return out


class PendingLiquidations:
    """Liquidations generated but not yet reported in a snapshot window."""

    def __init__(self) -> None:
        self._pending: list[np.ndarray] = []

    def add(self, liqs: np.ndarray) -> None:
        if len(liqs):
            self._pending.append(liqs)

    def snapshot(self, window_end_ms: int) -> np.ndarray:
        """Latest liquidation per contract with `T` in the 1000 ms window ending here."""
        if not self._pending:
            return np.zeros(0, dtype=LIQUIDATION_DTYPE)
        liqs = np.concatenate(self._pending)
        due = liqs["time"] < window_end_ms
        self._pending = [liqs[~due]] if (~due).any() else []
        liqs = liqs[due]
        if len(liqs) == 0:
            return liqs
        window = liqs["time"] // 1000
        order = np.lexsort((np.arange(len(liqs)), liqs["time"], liqs["sym"], window))
        liqs, window = liqs[order], window[order]
        last = np.flatnonzero(
            (np.diff(liqs["sym"], append=-1) != 0) | (np.diff(window, append=-1) != 0)
        )
        return liqs[last]
