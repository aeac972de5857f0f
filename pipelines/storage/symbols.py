"""The `symbols` table: one row per contract with the grid its integer-coded rows are on.

A process's `SymbolRegistry` indices are its own, so the writer maps them to stored ids. When the
exchange changes a contract's tick or step size, new values may not fall on the stored grid; the
stored rows are then rescaled once to the common grid of both (the largest size that divides
each), so every stored value stays exact and one grid per symbol describes all its rows.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from decimal import Decimal

import numpy as np

from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.storage.schema import write_transaction

log = logging.getLogger(__name__)


def canonical_size(size: str) -> str:
    """'0.10' -> '0.1', '1E+1' -> '10': one text per grid size."""
    return format(Decimal(size).normalize(), "f")


def common_grid(stored: str, new: str) -> tuple[str, int, int]:
    """The largest size both are whole multiples of, and each size in units of it."""
    a, b = Decimal(stored), Decimal(new)
    decimals = max(0, -min(a.normalize().as_tuple().exponent, b.normalize().as_tuple().exponent))
    ai, bi = int(a.scaleb(decimals)), int(b.scaleb(decimals))
    g = math.gcd(ai, bi)
    return canonical_size(str(Decimal(g).scaleb(-decimals))), ai // g, bi // g


def read_specs(conn: sqlite3.Connection) -> dict[int, ContractSpec]:
    """Stored id -> the grid of that symbol's rows, in id order."""
    rows = conn.execute("SELECT id, symbol, tick_size, step_size FROM symbols ORDER BY id")
    return {sid: ContractSpec(sym, tick, step) for sid, sym, tick, step in rows}


def _grid_columns(spec: ContractSpec) -> tuple[int, float, int, float]:
    return (
        spec.tick_units,
        10.0**spec.price_decimals,
        spec.step_units,
        10.0**spec.qty_decimals,
    )


# Two passes through negative values: rescaling a key column in place would collide with rows
# not yet rescaled (2 -> 4 while 4 still exists).
_RESCALE_PRICE = (
    "UPDATE trade_rows SET price_ticks = price_ticks * :k WHERE sym_id = :id",
    "UPDATE minute_profile_rows SET price_ticks = -price_ticks * :k "
    "WHERE sym_id = :id AND price_ticks > 0",
    "UPDATE minute_profile_rows SET price_ticks = -price_ticks "
    "WHERE sym_id = :id AND price_ticks < 0",
    "UPDATE minute_bar_rows SET open_ticks = open_ticks * :k, high_ticks = high_ticks * :k, "
    "low_ticks = low_ticks * :k, close_ticks = close_ticks * :k WHERE sym_id = :id",
    # bin_ticks (always positive) marks the signal rows already rescaled.
    "UPDATE signal_rows SET bin_ticks = -bin_ticks * :k, low_ticks = low_ticks * :k, "
    "high_ticks = high_ticks * :k, notional_units = notional_units * :k "
    "WHERE sym_id = :id AND bin_ticks > 0",
    "UPDATE signal_rows SET bin_ticks = -bin_ticks WHERE sym_id = :id AND bin_ticks < 0",
)
_RESCALE_QTY = (
    "UPDATE trade_rows SET qty_steps = qty_steps * :k WHERE sym_id = :id",
    "UPDATE minute_profile_rows SET bid_qty_steps = bid_qty_steps * :k, "
    "ask_qty_steps = ask_qty_steps * :k WHERE sym_id = :id",
    "UPDATE minute_bar_rows SET bid_qty_steps = bid_qty_steps * :k, "
    "ask_qty_steps = ask_qty_steps * :k, delta_max_steps = delta_max_steps * :k, "
    "delta_min_steps = delta_min_steps * :k WHERE sym_id = :id",
    "UPDATE signal_rows SET volume_steps = volume_steps * :k, "
    "notional_units = notional_units * :k WHERE sym_id = :id",
)


class SymbolMap:
    """Registry index -> stored symbol id, and factors from the registry grid to the stored one.

    Used by the writer thread only. `resolve` writes new symbols (and any rescale) in its own
    committed transaction before the data that needs them.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.ids = np.full(0, -1, dtype=np.int64)
        self.price_factor = np.ones(0, dtype=np.int64)
        self.qty_factor = np.ones(0, dtype=np.int64)

    def resolve(self, registry: SymbolRegistry, indices: np.ndarray) -> None:
        """Map every registry index in `indices` (all must be < len(registry))."""
        size = len(registry)
        if size > len(self.ids):
            grow = size - len(self.ids)
            self.ids = np.concatenate([self.ids, np.full(grow, -1, dtype=np.int64)])
            self.price_factor = np.concatenate([self.price_factor, np.ones(grow, np.int64)])
            self.qty_factor = np.concatenate([self.qty_factor, np.ones(grow, np.int64)])
        missing = np.unique(indices[self.ids[indices] < 0])
        if len(missing) == 0:
            return
        stored = {spec.symbol: (sid, spec) for sid, spec in read_specs(self._conn).items()}
        found: list[tuple[int, int, int, int]] = []
        with write_transaction(self._conn):
            for idx in missing.tolist():
                found.append((idx, *self._resolve_one(registry.spec(idx), stored)))
        for idx, sid, kp, kq in found:
            self.ids[idx], self.price_factor[idx], self.qty_factor[idx] = sid, kp, kq

    def _resolve_one(
        self, spec: ContractSpec, stored: dict[str, tuple[int, ContractSpec]]
    ) -> tuple[int, int, int]:
        if spec.symbol not in stored:
            grid = ContractSpec(
                spec.symbol, canonical_size(spec.tick_size), canonical_size(spec.step_size)
            )
            cur = self._conn.execute(
                "INSERT INTO symbols (symbol, tick_size, step_size, tick_units, price_scale, "
                "step_units, qty_scale) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (grid.symbol, grid.tick_size, grid.step_size, *_grid_columns(grid)),
            )
            return int(cur.lastrowid), 1, 1
        sid, old = stored[spec.symbol]
        tick, k_old_price, k_new_price = common_grid(old.tick_size, spec.tick_size)
        step, k_old_qty, k_new_qty = common_grid(old.step_size, spec.step_size)
        if k_old_price != 1 or k_old_qty != 1:
            log.warning(
                "%s grid changed (tick %s -> %s, step %s -> %s): rescaling stored rows to "
                "tick %s, step %s",
                spec.symbol, old.tick_size, spec.tick_size, old.step_size, spec.step_size,
                tick, step,
            )  # fmt: skip
            for statements, k in ((_RESCALE_PRICE, k_old_price), (_RESCALE_QTY, k_old_qty)):
                if k != 1:
                    for sql in statements:
                        self._conn.execute(sql, {"k": k, "id": sid})
            grid = ContractSpec(spec.symbol, tick, step)
            self._conn.execute(
                "UPDATE symbols SET tick_size = ?, step_size = ?, tick_units = ?, "
                "price_scale = ?, step_units = ?, qty_scale = ? WHERE id = ?",
                (tick, step, *_grid_columns(grid), sid),
            )
        return sid, k_new_price, k_new_qty
