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

from pipelines.binance.archive import _as_bool
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.dtypes import TRADE_DTYPE

_MAX_DECIMALS = 12
_POW10 = np.array([10.0**d for d in range(_MAX_DECIMALS + 1)])  # the same floats as 10.0**d
_TOO_FINE, _NOT_FINITE = -1, -2  # kernel status codes (a decimals count otherwise)

Specs = Mapping[str, ContractSpec] | SymbolRegistry | None


def infer_decimals(values: np.ndarray | pd.Series) -> int:
    """The fewest decimals that write every value exactly (values read from decimal text)."""
    arr = np.ascontiguousarray(values, dtype=np.float64)
    decimals, bad = _infer_kernel(arr[np.isfinite(arr)], _POW10)
    if decimals < 0:
        _raise_bad("values", arr, bad, decimals)
    return int(decimals)


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


def frame_records(
    trades: pd.DataFrame,
    *,
    tick_size: float | str | None = None,
    step_size: float | str | None = None,
    spec: ContractSpec | None = None,
    symbol: str = "",
    sym: int = 0,
) -> tuple[ContractSpec, np.ndarray]:
    """One contract's trade frame as `TRADE_DTYPE` records on its grid, in one compiled pass.

    The grid is `spec`, else the sizes given, else inferred from the data exactly as
    `contract_spec` does; the returned spec is that grid. The records equal
    `trades_from_frame(trades, spec, sym)`. Raises ValueError for a missing column, a
    non-finite price or quantity, or values finer than 12 decimals.
    """
    out = np.empty(len(trades), dtype=TRADE_DTYPE)
    spec = _convert(trades, tick_size, step_size, spec, symbol, sym, {k: out[k] for k in _FIELDS})
    return spec, out


def frame_columns(
    trades: pd.DataFrame,
    *,
    tick_size: float | str | None = None,
    step_size: float | str | None = None,
    spec: ContractSpec | None = None,
    symbol: str = "",
) -> tuple[ContractSpec, TradeColumns]:
    """As `frame_records`, but the fields a kernel reads as contiguous columns.

    A 65-byte record array is twice the memory traffic of the five columns a footprint reads,
    and its page faults and strided loads cost as much as the kernel itself.
    """
    n = len(trades)
    cols = {k: np.empty(n, TRADE_DTYPE[k]) for k in TradeColumns.FIELDS}
    spec = _convert(trades, tick_size, step_size, spec, symbol, 0, cols)
    return spec, TradeColumns(cols)


class TradeColumns:
    """One contract's trades as contiguous columns, indexed by `TRADE_DTYPE` field name like a
    record array (`cols["price"]`); `len` is the number of trades."""

    FIELDS = ("time", "price", "qty", "buyer_maker", "agg_id")

    def __init__(self, columns: dict[str, np.ndarray]) -> None:
        self._columns = columns

    def __getitem__(self, name: str) -> np.ndarray:
        if name == "sym":  # one contract
            return np.zeros(len(self), np.int32)
        return self._columns[name]

    def __len__(self) -> int:
        return len(self._columns["time"])

    def take(self, order: np.ndarray) -> TradeColumns:
        return TradeColumns({k: v[order] for k, v in self._columns.items()})


_FIELDS = ("sym", "agg_id", "first_id", "last_id", "time", "price", "qty", "buyer_maker",
           "event_time")  # fmt: skip


def _convert(
    trades: pd.DataFrame,
    tick_size: float | str | None,
    step_size: float | str | None,
    spec: ContractSpec | None,
    symbol: str,
    sym: int,
    out: dict[str, np.ndarray],
) -> ContractSpec:
    """Fill the `out` columns (any subset of `_FIELDS`) from the frame; returns the grid."""
    missing = {"price", "quantity", "transact_time", "is_buyer_maker"} - set(trades.columns)
    if missing:
        raise ValueError(f"trades lack the columns {sorted(missing)}")
    given = (None, None) if spec is None else (spec.tick_size, spec.step_size)
    tick = given[0] if tick_size is None else grid_text(tick_size)
    step = given[1] if step_size is None else grid_text(step_size)
    price = _column(trades, "price", np.float64)
    qty = _column(trades, "quantity", np.float64)
    n = len(trades)
    agg = _column(trades, "agg_trade_id", np.int64) if "agg_trade_id" in trades else np.arange(n)
    first = _column(trades, "first_trade_id", np.int64) if "first_trade_id" in trades else agg
    last = _column(trades, "last_trade_id", np.int64) if "last_trade_id" in trades else agg
    p_dec, p_units = _fixed(tick)
    q_dec, q_units = _fixed(step)
    # Columns not asked for are zero-length: the kernel skips them.
    o = [out.get(k, np.empty(0, TRADE_DTYPE[k])) for k in _FIELDS]
    p_dec, q_dec, bad = _fill_records(
        price, qty, _column(trades, "transact_time", np.int64), agg, first, last,
        _as_bool(trades["is_buyer_maker"]), p_dec, p_units, q_dec, q_units, sym, _POW10, *o,
    )  # fmt: skip
    if p_dec < 0:
        _raise_bad("prices", price, bad, p_dec)
    if q_dec < 0:
        _raise_bad("quantities", qty, bad, q_dec)
    if spec is None or tick != spec.tick_size or step != spec.step_size:
        spec = ContractSpec(
            symbol=symbol if spec is None else spec.symbol,
            tick_size=tick or _inferred_size(p_dec),
            step_size=step or _inferred_size(q_dec),
        )
    return spec


def _column(trades: pd.DataFrame, name: str, dtype: type) -> np.ndarray:
    return np.ascontiguousarray(trades[name].to_numpy(), dtype=dtype)


def _fixed(size: str | None) -> tuple[int, int]:
    """(decimals, units) of a grid size; (-1, 1) asks the kernel to infer the decimals."""
    if size is None:
        return -1, 1
    probe = ContractSpec(symbol="", tick_size=size, step_size=size)
    return probe.price_decimals, probe.tick_units


def _inferred_size(decimals: int) -> str:
    # The text `contract_spec` writes for an inferred grid, so the two specs compare equal.
    return f"{10.0**-decimals:.{_MAX_DECIMALS}f}"


def _raise_bad(what: str, values: np.ndarray, index: int, status: int) -> None:
    value = values[index] if 0 <= index < len(values) else float("nan")
    if status == _NOT_FINITE:
        raise ValueError(f"{what} must be finite numbers, got {value!r} at row {index}")
    raise ValueError(
        f"{what} need more than {_MAX_DECIMALS} decimals ({value!r} at row {index}); "
        "pass the grid explicitly"
    )


@njit(cache=True, inline="always")
def _off_grid(scaled: float, rounded: float) -> bool:
    # Decimal text read as float is off by a few ulp at most: ~1e-16 relative.
    return abs(scaled - rounded) > 1e-14 * max(1.0, abs(scaled))


@njit(cache=True)
def _infer_kernel(values: np.ndarray, pow10: np.ndarray) -> tuple[int, int]:
    """(fewest decimals writing every value, -1) in one pass; (status < 0, row) on failure."""
    dec = 0
    for i in range(values.shape[0]):
        x = values[i]
        if not np.isfinite(x):
            return _NOT_FINITE, i
        # Decimals only grow: a value on the 10**-d grid is on every finer one.
        while _off_grid(x * pow10[dec], np.rint(x * pow10[dec])):
            dec += 1
            if dec >= pow10.shape[0]:
                return _TOO_FINE, i
    return dec, -1


@njit(cache=True, inline="always")
def _to_units(values, i, dec, units, pow10, out):
    """Grid value of row i at `dec` decimals (inferring: raising `dec` as needed).

    Returns (decimals, status): status 0 ok, 1 the decimals grew, < 0 a failure code.
    """
    x = values[i]
    if not np.isfinite(x):
        return dec, _NOT_FINITE
    grew = 0
    if units == 0:  # inferring
        while _off_grid(x * pow10[dec], np.rint(x * pow10[dec])):
            dec += 1
            grew = 1
            if dec >= pow10.shape[0]:
                return dec, _TOO_FINE
        out[i] = np.int64(np.rint(x * pow10[dec]))
    elif units == 1:  # most grids: skip the integer division (~10 ns a row)
        out[i] = np.int64(np.rint(x * pow10[dec]))
    else:
        out[i] = np.int64(np.rint(x * pow10[dec])) // units
    return dec, grew


@njit(cache=True)
def _fill_records(
    price, qty, time, agg, first, last, sell, p_dec, p_units, q_dec, q_units, sym, pow10,
    o_sym, o_agg, o_first, o_last, o_time, o_price, o_qty, o_sell, o_event,
):  # fmt: skip
    """The TRADE_DTYPE fields of every row in one pass (sym, first/last id and event time only
    when their outputs are not empty); `*_dec` < 0 infers that grid.

    An inferred grid's decimals only grow; rows converted before the last growth are redone at
    the final decimals (usually none: the first rows already show them). Returns (price
    decimals, quantity decimals, failing row); a negative decimals value is a status code.
    """
    ids = o_first.shape[0] > 0
    p_infer = p_dec < 0
    q_infer = q_dec < 0
    p_dec = max(p_dec, 0)
    q_dec = max(q_dec, 0)
    p_redo = 0
    q_redo = 0
    p_st = 0
    q_st = 0
    for i in range(price.shape[0]):
        p_dec, p_st = _to_units(price, i, p_dec, 0 if p_infer else p_units, pow10, o_price)
        q_dec, q_st = _to_units(qty, i, q_dec, 0 if q_infer else q_units, pow10, o_qty)
        if p_st != 0 or q_st != 0:
            # Rare: a grid grew or a value failed. (A `return` in the loop costs 5x its speed.)
            if p_st < 0 or q_st < 0:
                break
            if p_st == 1:
                p_redo = i
            if q_st == 1:
                q_redo = i
        o_agg[i] = agg[i]
        o_time[i] = time[i]
        o_sell[i] = sell[i]
        if ids:
            o_sym[i] = sym
            o_first[i] = first[i]
            o_last[i] = last[i]
            o_event[i] = 0
    if p_st < 0 or q_st < 0:
        return p_st if p_st < 0 else p_dec, q_st if q_st < 0 else q_dec, i
    for i in range(p_redo):
        o_price[i] = np.int64(np.rint(price[i] * pow10[p_dec]))
    for i in range(q_redo):
        o_qty[i] = np.int64(np.rint(qty[i] * pow10[q_dec]))
    return p_dec, q_dec, -1


def records_from_frame(
    trades: pd.DataFrame, *, specs: Specs = None, symbol: str = ""
) -> tuple[np.ndarray, SymbolRegistry]:
    """A trade frame as `TRADE_DTYPE` records (in the frame's row order) and their registry.

    With a `symbol` column each contract gets its own index; without one every row belongs to
    `symbol`. Contracts absent from `specs` get a grid inferred from their own rows.
    """
    registry = SymbolRegistry()
    if "symbol" not in trades.columns:
        spec, records = frame_records(trades, spec=_given_spec(symbol, specs), symbol=symbol)
        registry.add(spec)
        return records, registry
    out = np.zeros(len(trades), dtype=TRADE_DTYPE)
    codes, names = pd.factorize(trades["symbol"].astype(str), sort=True)
    for code, name in enumerate(names):
        rows = np.flatnonzero(codes == code)
        spec, part = frame_records(
            trades.iloc[rows], spec=_given_spec(name, specs), symbol=name, sym=code
        )
        registry.add(spec)
        out[rows] = part
    return out, registry


def _given_spec(symbol: str, specs: Specs) -> ContractSpec | None:
    if isinstance(specs, SymbolRegistry):
        return specs.spec(symbol) if symbol in specs else None
    if specs is not None and symbol in specs:
        return specs[symbol]
    return None


def in_trade_order(records: np.ndarray | TradeColumns) -> np.ndarray | TradeColumns:
    """Records sorted by (sym, time, agg_id), the order trades happened in; no copy if sorted."""
    if len(records) < 2:
        return records
    keys = (records["sym"], records["time"], records["agg_id"])
    if _lex_sorted(*keys):
        return records
    order = np.lexsort(keys[::-1])
    return records.take(order) if isinstance(records, TradeColumns) else records[order]


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

    def units(self, sym: np.ndarray | int, quote: np.ndarray) -> np.ndarray:
        """Sums of ticks * steps back from quote amounts (`quote`'s inverse, to the nearest)."""
        scale = self.price_scale[sym] * self.qty_scale[sym]
        per_unit = self.tick_units[sym] * self.step_units[sym]
        return np.rint(np.asarray(quote, dtype=np.float64) * scale / per_unit).astype(np.int64)
