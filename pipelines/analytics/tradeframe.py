"""Analyst trade frames on the integer grid, and grid values back to floats.

The analytics accept pandas frames in the data.binance.vision aggTrades layout (optionally with a
`symbol` column for several contracts) and work on `TRADE_DTYPE` arrays. A contract's grid comes
from its ContractSpec when the caller has one; otherwise it is inferred from the data: the grid
unit is 10**-d where d is the largest number of decimals among the values (0.006 -> 0.001). An
inferred grid can be finer than the exchange's tick or step; sums on it are still exact.

Float results are made once, from integer sums: a price is ticks * tick_units / 10**decimals and
a quote amount is (ticks * steps) * tick_units * step_units / 10**(price + quantity decimals),
each one correctly rounded division, so the same integers always give the same float.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
from numba import njit

from pipelines.binance.archive import trades_from_frame
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.dtypes import TRADE_DTYPE

_MAX_DECIMALS = 12

Specs = Mapping[str, ContractSpec] | SymbolRegistry | None


def infer_decimals(values: np.ndarray | pd.Series) -> int:
    """The fewest decimals that write every value exactly (values read from decimal text)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    for decimals in range(_MAX_DECIMALS + 1):
        scaled = arr * 10.0**decimals
        # Decimal text read as float is off by a few ulp at most: ~1e-16 relative.
        if np.all(np.abs(scaled - np.rint(scaled)) <= 1e-14 * np.maximum(1.0, np.abs(scaled))):
            return decimals
    raise ValueError(f"values need more than {_MAX_DECIMALS} decimals; pass the grid explicitly")


def grid_text(size: float | str | Decimal) -> str:
    """A tick or step size as the decimal text ContractSpec expects ('0.1', not 0.1000000001)."""
    if isinstance(size, str):
        text = size
    else:
        text = repr(float(size)) if isinstance(size, float) else str(size)
    try:
        ok = Decimal(text) > 0
    except ArithmeticError:
        ok = False
    if not ok:
        raise ValueError(f"a tick or step size must be a positive number, got {size!r}")
    return text


def contract_spec(
    trades: pd.DataFrame,
    *,
    tick_size: float | str | None = None,
    step_size: float | str | None = None,
    symbol: str = "",
) -> ContractSpec:
    """The grid for one contract's trades; a missing size is inferred from the data's decimals."""
    if tick_size is None:
        tick_size = f"{10.0 ** -infer_decimals(trades['price']):.{_MAX_DECIMALS}f}"
    if step_size is None:
        step_size = f"{10.0 ** -infer_decimals(trades['quantity']):.{_MAX_DECIMALS}f}"
    return ContractSpec(
        symbol=symbol, tick_size=grid_text(tick_size), step_size=grid_text(step_size)
    )


def records_from_frame(
    trades: pd.DataFrame, *, specs: Specs = None, symbol: str = ""
) -> tuple[np.ndarray, SymbolRegistry]:
    """A trade frame as `TRADE_DTYPE` records (in the frame's row order) and their registry.

    With a `symbol` column each contract gets its own index; without one every row belongs to
    `symbol`. Contracts absent from `specs` get a grid inferred from their own rows.
    """
    registry = SymbolRegistry()
    if "symbol" not in trades.columns:
        registry.add(_spec_for(symbol, trades, specs))
        return trades_from_frame(trades, registry.spec(0), sym=0), registry
    out = np.zeros(len(trades), dtype=TRADE_DTYPE)
    codes, names = pd.factorize(trades["symbol"].astype(str), sort=True)
    for code, name in enumerate(names):
        rows = np.flatnonzero(codes == code)
        part = trades.iloc[rows]
        sym = registry.add(_spec_for(name, part, specs))
        out[rows] = trades_from_frame(part, registry.spec(sym), sym=sym)
    return out, registry


def _spec_for(symbol: str, trades: pd.DataFrame, specs: Specs) -> ContractSpec:
    if isinstance(specs, SymbolRegistry):
        if symbol in specs:
            return specs.spec(symbol)
    elif specs is not None and symbol in specs:
        return specs[symbol]
    return contract_spec(trades, symbol=symbol)


def in_trade_order(records: np.ndarray) -> np.ndarray:
    """Records sorted by (sym, time, agg_id), the order trades happened in; no copy if sorted."""
    if len(records) < 2:
        return records
    keys = (records["sym"], records["time"], records["agg_id"])
    if _lex_sorted(*keys):
        return records
    return records[np.lexsort(keys[::-1])]


@njit(cache=True)
def _lex_sorted(sym: np.ndarray, time: np.ndarray, agg: np.ndarray) -> bool:
    # One pass; the numpy form (three diffs and masks) costs ~15 passes over the batch.
    for i in range(1, sym.shape[0]):
        if sym[i] != sym[i - 1]:
            if sym[i] < sym[i - 1]:
                return False
        elif time[i] != time[i - 1]:
            if time[i] < time[i - 1]:
                return False
        elif agg[i] < agg[i - 1]:
            return False
    return True


@dataclass(frozen=True, slots=True)
class Grid:
    """Per-index grid of a registry as arrays, for vectorised integer -> float conversion."""

    tick_units: np.ndarray
    step_units: np.ndarray
    price_scale: np.ndarray  # 10**price_decimals
    qty_scale: np.ndarray

    @classmethod
    def of(cls, registry: SymbolRegistry) -> Grid:
        specs = [registry.spec(i) for i in range(len(registry))]
        return cls(
            tick_units=np.array([s.tick_units for s in specs], dtype=np.int64),
            step_units=np.array([s.step_units for s in specs], dtype=np.int64),
            price_scale=np.array([10.0**s.price_decimals for s in specs]),
            qty_scale=np.array([10.0**s.qty_decimals for s in specs]),
        )

    def __len__(self) -> int:
        return len(self.tick_units)

    def price(self, sym: np.ndarray | int, ticks: np.ndarray) -> np.ndarray:
        return (np.asarray(ticks, dtype=np.int64) * self.tick_units[sym]) / self.price_scale[sym]

    def qty(self, sym: np.ndarray | int, steps: np.ndarray) -> np.ndarray:
        return (np.asarray(steps, dtype=np.int64) * self.step_units[sym]) / self.qty_scale[sym]

    def quote(self, sym: np.ndarray | int, units: np.ndarray) -> np.ndarray:
        """Quote amounts from sums of ticks * steps."""
        scaled = np.asarray(units, dtype=np.int64) * (self.tick_units[sym] * self.step_units[sym])
        return scaled / (self.price_scale[sym] * self.qty_scale[sym])
