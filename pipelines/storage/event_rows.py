"""Rows of the small event tables (big orders, minute imbalances) from DataFrames or arrays.

Columns are checked when the rows are submitted, so a caller's mistake raises ValueError in the
caller, never in the writer thread.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.analytics.bigorders import ORDER_COLUMNS
from pipelines.binance.registry import SymbolRegistry

_BIG_ORDER_COLUMNS = ORDER_COLUMNS[1:]  # the detector's columns after "symbol"
_BIG_ORDER_OPTIONAL = ("trades", "adv", "pct_adv")
INSERT_BIG_ORDERS = (
    f"INSERT OR IGNORE INTO big_orders (symbol, {', '.join(_BIG_ORDER_COLUMNS)}) "
    f"VALUES ({', '.join('?' * (len(_BIG_ORDER_COLUMNS) + 1))})"
)
UPSERT_IMBALANCES = (
    "INSERT INTO order_imbalances (symbol, timestamp, bid_volume, ask_volume, imbalance_ratio) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (symbol, timestamp) DO UPDATE SET "
    "bid_volume = excluded.bid_volume, ask_volume = excluded.ask_volume, "
    "imbalance_ratio = excluded.imbalance_ratio"
)
_IMBALANCE_COLUMNS = ("timestamp", "bid_volume", "ask_volume", "imbalance_ratio")


def big_order_rows(data: pd.DataFrame | np.ndarray, registry: SymbolRegistry) -> list[tuple]:
    """`big_orders` rows of detected orders (the detector's layout or the table's)."""
    return _big_order_rows(as_frame(data), registry)


def imbalance_rows(data: pd.DataFrame | np.ndarray, registry: SymbolRegistry) -> list[tuple]:
    """`order_imbalances` rows: symbol (or sym), timestamp, bid/ask volume, ratio."""
    kinds = (int, float, float, float)
    return _symbol_rows(as_frame(data), registry, _IMBALANCE_COLUMNS, kinds)


def as_frame(data: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, np.ndarray) and data.dtype.names:
        return pd.DataFrame({name: data[name] for name in data.dtype.names})
    raise ValueError(f"expected a DataFrame or a structured array, got {type(data).__name__}")


def _symbols_of(frame: pd.DataFrame, registry: SymbolRegistry) -> list[str]:
    if "symbol" in frame.columns:
        return frame["symbol"].astype(str).tolist()
    if "sym" not in frame.columns:
        raise ValueError("rows need a `symbol` column (or `sym`, a registry index)")
    return [registry.symbol(i) for i in registry_indices(frame, registry).tolist()]


def registry_indices(rows: pd.DataFrame | np.ndarray, registry: SymbolRegistry) -> np.ndarray:
    """The `sym` column; ValueError naming the indices the registry does not hold."""
    idx = np.asarray(rows["sym"])
    bad = ~np.asarray(registry.known(rows))
    if bad.any():
        raise ValueError(
            f"symbol indices not in the registry: {sorted(set(idx[bad].tolist()))[:10]}"
        )
    return idx


def require_columns(frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"rows lack the columns {missing}")


def _symbol_rows(
    frame: pd.DataFrame, registry: SymbolRegistry, columns: tuple[str, ...], kinds: tuple[type, ...]
) -> list[tuple]:
    require_columns(frame, columns)
    symbols = _symbols_of(frame, registry)
    values = [
        [kind(v) for v in frame[col].tolist()] for col, kind in zip(columns, kinds, strict=True)
    ]
    return list(zip(symbols, *values, strict=True))


def _big_order_rows(frame: pd.DataFrame, registry: SymbolRegistry) -> list[tuple]:
    # The detector's TAKER_ORDER_DTYPE names two columns differently.
    frame = frame.rename(columns={"qty": "quantity"})
    if "side" not in frame.columns and "is_buy" in frame.columns:
        frame = frame.assign(side=np.where(frame["is_buy"].astype(bool), "BUY", "SELL"))
    require_columns(frame, tuple(c for c in _BIG_ORDER_COLUMNS if c not in _BIG_ORDER_OPTIONAL))
    sides = frame["side"].astype(str).str.upper()
    if not sides.isin(("BUY", "SELL")).all():
        raise ValueError("big order side must be BUY or SELL (or an is_buy column)")

    def column(name: str, kind: type) -> list:
        if name not in frame.columns:
            return [None] * len(frame)
        return [None if pd.isna(v) else kind(v) for v in frame[name].tolist()]

    return list(
        zip(
            _symbols_of(frame, registry),
            column("time", int),
            sides.tolist(),
            *(column(c, float) for c in ("quantity", "vwap", "first_price", "last_price")),
            column("fills", int),
            column("trades", int),
            *(column(c, float) for c in ("notional", "adv", "pct_adv")),
            column("first_agg_id", int),
            column("last_agg_id", int),
            strict=True,
        )
    )
