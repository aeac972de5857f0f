"""The `signal_rows` table: order-flow signals (SIGNAL_DTYPE) in and out of the store, exactly.

Signals arrive on the registry's grid with registry indices; the table holds them on the
symbol's stored grid (`symbols.SymbolMap`, the same factors as the trades) under the stored id,
so a grid change rescales them with the minute rows. Kind and side are stored by name (see the
migration in `schema.py`). A read turns them back into SIGNAL_DTYPE rows on the stored grid,
indexed like `Store.load_registry()`, so the integers come back as they were submitted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import numpy as np
import pandas as pd

from pipelines.analytics.signals import KINDS, SIDES, SIGNAL_DTYPE
from pipelines.binance.registry import SymbolRegistry
from pipelines.storage.event_rows import as_frame, registry_indices, require_columns
from pipelines.storage.symbols import SymbolMap
from pipelines.storage.tables import params

# Table columns in SIGNAL_DTYPE's field order (the table's names carry the units).
SIGNAL_TABLE_COLUMNS = (
    "sym_id", "bar_time", "tf_ms", "bin_ticks", "kind", "side", "low_ticks", "high_ticks",
    "levels", "volume_steps", "notional_units", "strength",
)  # fmt: skip
INSERT_SIGNALS = (
    f"INSERT OR IGNORE INTO signal_rows ({', '.join(SIGNAL_TABLE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(SIGNAL_TABLE_COLUMNS))})"
)


def _index_of(column: str, names: tuple[str, ...]) -> str:
    """SQL giving a stored name's index in this code's `names` (all numeric rows convert at C
    speed)."""
    cases = " ".join(f"WHEN '{name}' THEN {i}" for i, name in enumerate(names))
    return f"CASE {column} {cases} END"


SELECT_SIGNALS = (
    "SELECT sym_id, bar_time, tf_ms, bin_ticks, "
    f"{_index_of('kind', KINDS)}, {_index_of('side', SIDES)}, "
    "low_ticks, high_ticks, levels, volume_steps, notional_units, strength FROM signal_rows"
)
# Oldest bar first, then contract, timeframe, kind and side (by index), price: the last key
# is the first. Sorted after reading, as SQL would sort kind and side by name.
_ORDER = ("bin_ticks", "low_ticks", "side", "kind", "tf_ms", "sym", "bar_time")
_KIND_NAMES = np.array(KINDS, dtype=object)
_SIDE_NAMES = np.array(SIDES, dtype=object)


def signal_records(data: np.ndarray | pd.DataFrame, registry: SymbolRegistry) -> np.ndarray:
    """Submitted signals as a SIGNAL_DTYPE copy (the caller's ring may be overwritten).

    Raises ValueError for missing fields, symbol indices the registry does not hold, or kind
    and side indices outside KINDS/SIDES: the caller's mistake, raised in the caller.
    """
    if isinstance(data, np.ndarray) and data.dtype == SIGNAL_DTYPE:
        out = data.copy()
    else:
        frame = as_frame(data)
        require_columns(frame, SIGNAL_DTYPE.names)
        out = np.zeros(len(frame), SIGNAL_DTYPE)
        for name in SIGNAL_DTYPE.names:
            out[name] = frame[name].to_numpy()
    registry_indices(out, registry)
    for name, names in (("kind", KINDS), ("side", SIDES)):
        bad = (out[name] < 0) | (out[name] >= len(names))
        if bad.any():
            raise ValueError(f"signal {name} indices outside 0..{len(names) - 1}: "
                             f"{sorted(set(out[name][bad].tolist()))[:10]}")  # fmt: skip
    return out


def write_signals(conn: sqlite3.Connection, symbols: SymbolMap, rows: np.ndarray) -> int:
    """Insert the signals not stored yet (symbols resolved in `symbols`); returns how many."""
    if len(rows) == 0:
        return 0
    sym = rows["sym"]
    kp, kq = symbols.price_factor[sym], symbols.qty_factor[sym]  # registry grid -> stored grid
    cursor = conn.executemany(
        INSERT_SIGNALS,
        params(
            symbols.ids[sym], rows["bar_time"], rows["tf_ms"], rows["bin_ticks"] * kp,
            _KIND_NAMES[rows["kind"]], _SIDE_NAMES[rows["side"]], rows["low_ticks"] * kp,
            rows["high_ticks"] * kp, rows["levels"], rows["volume"] * kq,
            rows["notional"] * kp * kq, rows["strength"],  # NaN is stored as NULL
        ),
    )  # fmt: skip
    return max(cursor.rowcount, 0)  # a signal stored before is ignored, not counted


def read_signals(chunks: Iterable[list[tuple]], index_of: dict[int, int]) -> np.ndarray:
    """SIGNAL_DTYPE rows of a `SELECT_SIGNALS` result read a chunk at a time (never all as
    tuples at once), `sym` from the stored id via `index_of`; by bar time, contract (its
    index), timeframe, kind, side and price."""
    # A NULL strength (a NaN stored) reads back as NaN.
    out = np.concatenate([np.zeros(0, SIGNAL_DTYPE)] + [np.array(c, SIGNAL_DTYPE) for c in chunks])
    to_index = np.zeros(max(index_of, default=0) + 1, np.int32)
    to_index[list(index_of)] = list(index_of.values())
    out["sym"] = to_index[out["sym"]]
    return out[np.lexsort([out[key] for key in _ORDER])]
