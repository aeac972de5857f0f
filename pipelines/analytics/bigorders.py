"""Big taker orders measured against each contract's average daily volume (ADV).

Taker order: one market order that swept the book shows up as a run of aggTrades of the same
contract with the same transact time, the same side and consecutive aggTrade ids. Each run is
reported once: time, side, total quantity, VWAP, first/last price, fills (aggTrades), trades,
notional (sum of price x quantity, USD) and notional as a percentage of ADV. Two orders of the
same side in the same millisecond with adjacent ids cannot be told apart and count as one.

ADV: the mean daily quote volume (REST klines 1d, field 7) of the complete UTC days in the last
`days` calendar days; the still-open day is dropped. A contract listed more recently averages
over the days it has. ADV changes at each UTC midnight: refresh it at `next_refresh_ms(now)`.

Big: notional >= threshold x ADV (threshold 0.005 = 0.5 %) and notional >= min_notional (an
optional absolute USD floor). A contract without a known ADV is never big by the ADV rule; it is
big only when a floor is set (min_notional > 0) and its notional reaches that floor.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
from numba import njit

from pipelines.analytics.ring import SequencedRing
from pipelines.analytics.tradeframe import Grid, Specs, in_trade_order, records_from_frame
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.dtypes import TRADE_DTYPE
from pipelines.records.timeunits import DAY_MS

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.005
DEFAULT_ADV_DAYS = 30

TAKER_ORDER_DTYPE = np.dtype(
    [
        ("sym", "i4"),
        ("time", "i8"),  # transact time T, epoch ms
        ("is_buy", "?"),  # taker bought
        ("qty", "f8"),  # base quantity
        ("vwap", "f8"),
        ("first_price", "f8"),
        ("last_price", "f8"),
        ("fills", "i8"),  # aggTrades (price levels) in the run
        ("trades", "i8"),  # individual trades (last_id - first_id + 1, summed)
        ("notional", "f8"),  # sum of price x quantity, quote currency (USD)
        ("adv", "f8"),  # ADV used for pct_adv; NaN when unknown
        ("pct_adv", "f8"),  # notional / ADV x 100
        ("first_agg_id", "i8"),
        ("last_agg_id", "i8"),
    ]
)

ORDER_COLUMNS = (
    "symbol",
    "time",
    "side",
    "quantity",
    "vwap",
    "first_price",
    "last_price",
    "fills",
    "trades",
    "notional",
    "adv",
    "pct_adv",
    "first_agg_id",
    "last_agg_id",
)

# Integer sums of one run: the columns of the run matrices below.
_SYM, _TIME, _SELL, _FIRST_AGG, _LAST_AGG, _QTY, _QUOTE, _FIRST_P, _LAST_P, _FILLS, _TRADES = range(
    11
)
_RUN_WIDTH = 11


# ---------------------------------------------------------------- average daily volume


def average_daily_volume(klines: pd.DataFrame, now_ms: int, days: int = DEFAULT_ADV_DAYS) -> float:
    """Mean daily quote volume of the complete UTC days among the last `days` days before now.

    `klines` is a 1d klines frame as `pipelines.binance.parsers.parse_klines` returns it. The day
    still open at `now_ms` is dropped; a day is complete when its close time is before `now_ms`.
    Returns NaN when no complete day is there.
    """
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if len(klines) == 0:
        return float("nan")
    open_time = klines["open_time"].to_numpy(dtype=np.int64)
    if np.any(open_time % DAY_MS):
        raise ValueError("ADV needs 1d klines: every open_time must be a UTC midnight")
    today = int(now_ms) // DAY_MS * DAY_MS
    complete = klines["close_time"].to_numpy(dtype=np.int64) < now_ms
    recent = (open_time >= today - days * DAY_MS) & complete
    if not recent.any():
        return float("nan")
    return float(klines["quote_volume"].to_numpy(dtype=np.float64)[recent].mean())


def average_daily_volumes(
    klines_by_symbol: Mapping[str, pd.DataFrame], now_ms: int, days: int = DEFAULT_ADV_DAYS
) -> pd.Series:
    """ADV of many contracts (symbol -> 1d klines frame), as a Series indexed by symbol."""
    return pd.Series(
        {s: average_daily_volume(k, now_ms, days) for s, k in klines_by_symbol.items()},
        name="adv",
        dtype=np.float64,
    )


def next_refresh_ms(now_ms: int, delay_ms: int = 0) -> int:
    """When ADV next changes: the coming UTC midnight (plus a delay for the day's kline to close)."""
    return (int(now_ms) // DAY_MS + 1) * DAY_MS + int(delay_ms)


# ---------------------------------------------------------------- pure functions


def big_mask(
    notional: np.ndarray,
    adv: np.ndarray,
    threshold: float = DEFAULT_THRESHOLD,
    min_notional: float = 0.0,
) -> np.ndarray:
    """Which orders are big (the rule in the module docstring); NaN or non-positive ADV = unknown."""
    notional = np.asarray(notional, dtype=np.float64)
    adv = np.asarray(adv, dtype=np.float64)
    known = np.isfinite(adv) & (adv > 0)
    by_adv = known & (notional >= threshold * np.where(known, adv, 0.0))
    by_floor = notional >= min_notional
    if min_notional > 0:
        return (by_adv & by_floor) | (~known & by_floor)
    return by_adv


def taker_orders(
    trades: pd.DataFrame,
    *,
    adv: float | Mapping[str, float] | pd.Series | None = None,
    specs: Specs = None,
    symbol: str = "",
) -> pd.DataFrame:
    """Taker orders of an aggTrades frame (data.binance.vision layout, optional `symbol` column).

    One row per order, ordered by symbol then time; `adv`/`pct_adv` are filled when `adv` is
    given (one number for a single contract, or symbol -> ADV). Grids not in `specs` are inferred
    from the data (see pipelines.analytics.tradeframe); notionals are exact on any grid.
    """
    records, registry = records_from_frame(trades, specs=specs, symbol=symbol)
    runs = _runs(in_trade_order(records))
    adv_by_sym = _adv_array(registry, adv)
    return orders_frame(_orders(runs, Grid.of(registry), adv_by_sym), registry)


def big_orders(
    orders: pd.DataFrame,
    adv: float | Mapping[str, float] | pd.Series | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_notional: float = 0.0,
) -> pd.DataFrame:
    """The big rows of a `taker_orders` frame, with `adv`/`pct_adv` set from `adv` when given."""
    _check_threshold(threshold)
    out = orders.copy()
    if adv is not None:
        if isinstance(adv, Mapping | pd.Series):
            out["adv"] = out["symbol"].map(lambda s: adv.get(s, np.nan)).astype(np.float64)
        else:
            out["adv"] = float(adv)
        out["pct_adv"] = out["notional"] / out["adv"] * 100.0
    mask = big_mask(out["notional"].to_numpy(), out["adv"].to_numpy(), threshold, min_notional)
    return out[mask].reset_index(drop=True)


def orders_frame(orders: np.ndarray, registry: SymbolRegistry) -> pd.DataFrame:
    """`TAKER_ORDER_DTYPE` rows as a DataFrame with symbol names and side 'buy'/'sell'."""
    names = np.array([*registry.symbols, ""], dtype=object)
    return pd.DataFrame(
        {
            "symbol": names[orders["sym"]] if len(orders) else np.zeros(0, dtype=object),
            "time": orders["time"],
            "side": np.where(orders["is_buy"], "buy", "sell").astype(object),
            "quantity": orders["qty"],
            "vwap": orders["vwap"],
            "first_price": orders["first_price"],
            "last_price": orders["last_price"],
            "fills": orders["fills"],
            "trades": orders["trades"],
            "notional": orders["notional"],
            "adv": orders["adv"],
            "pct_adv": orders["pct_adv"],
            "first_agg_id": orders["first_agg_id"],
            "last_agg_id": orders["last_agg_id"],
        }
    )


def _runs(records: np.ndarray) -> np.ndarray:
    """Integer sums of each run of records in trade order (vectorised; the detector streams)."""
    n = len(records)
    if n == 0:
        return np.zeros((0, _RUN_WIDTH), np.int64)
    sym, time, sell, agg = (records[k] for k in ("sym", "time", "buyer_maker", "agg_id"))
    new = np.ones(n, dtype=bool)
    new[1:] = (
        (sym[1:] != sym[:-1])
        | (time[1:] != time[:-1])
        | (sell[1:] != sell[:-1])
        | (agg[1:] != agg[:-1] + 1)
    )
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], n] - 1
    runs = np.empty((len(starts), _RUN_WIDTH), np.int64)
    runs[:, _SYM] = sym[starts]
    runs[:, _TIME] = time[starts]
    runs[:, _SELL] = sell[starts]
    runs[:, _FIRST_AGG] = agg[starts]
    runs[:, _LAST_AGG] = agg[ends]
    runs[:, _QTY] = np.add.reduceat(records["qty"], starts)
    runs[:, _QUOTE] = np.add.reduceat(records["price"] * records["qty"], starts)
    runs[:, _FIRST_P] = records["price"][starts]
    runs[:, _LAST_P] = records["price"][ends]
    runs[:, _FILLS] = ends - starts + 1
    runs[:, _TRADES] = np.add.reduceat(records["last_id"] - records["first_id"] + 1, starts)
    return runs


def _orders(runs: np.ndarray, grid: Grid, adv_by_sym: np.ndarray) -> np.ndarray:
    """Run sums to `TAKER_ORDER_DTYPE`, floats made once from the integer sums."""
    out = np.zeros(len(runs), TAKER_ORDER_DTYPE)
    if len(runs) == 0:
        return out
    sym = runs[:, _SYM]
    out["sym"] = sym
    out["time"] = runs[:, _TIME]
    out["is_buy"] = runs[:, _SELL] == 0
    out["qty"] = grid.qty(sym, runs[:, _QTY])
    out["notional"] = grid.quote(sym, runs[:, _QUOTE])
    with np.errstate(divide="ignore", invalid="ignore"):
        out["vwap"] = out["notional"] / out["qty"]
        out["pct_adv"] = out["notional"] / adv_by_sym[sym] * 100.0
    out["first_price"] = grid.price(sym, runs[:, _FIRST_P])
    out["last_price"] = grid.price(sym, runs[:, _LAST_P])
    out["fills"] = runs[:, _FILLS]
    out["trades"] = runs[:, _TRADES]
    out["adv"] = adv_by_sym[sym]
    out["first_agg_id"] = runs[:, _FIRST_AGG]
    out["last_agg_id"] = runs[:, _LAST_AGG]
    return out


def _adv_array(
    registry: SymbolRegistry, adv: float | Mapping[str, float] | pd.Series | None
) -> np.ndarray:
    if adv is None:
        return np.full(len(registry), np.nan)
    if isinstance(adv, Mapping | pd.Series):
        return np.array([float(adv.get(s, np.nan)) for s in registry.symbols])
    return np.full(len(registry), float(adv))


def _check_threshold(threshold: float) -> float:
    value = float(threshold)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"threshold is a fraction of ADV (0.005 = 0.5 %), got {threshold!r}")
    return value


# ---------------------------------------------------------------- incremental


@njit(cache=True)
def _stream_runs(sym, time, sell, agg, price, qty, n_trades, state, is_open, out):
    """Extend or close each contract's open run with the batch (in trade order per contract).

    Closed runs go to `out` (at most one per trade); returns how many were written.
    """
    k = 0
    for i in range(sym.shape[0]):
        s = sym[i]
        if (
            is_open[s]
            and state[s, _TIME] == time[i]
            and state[s, _SELL] == sell[i]
            and state[s, _LAST_AGG] + 1 == agg[i]
        ):
            state[s, _LAST_AGG] = agg[i]
            state[s, _QTY] += qty[i]
            state[s, _QUOTE] += price[i] * qty[i]
            state[s, _LAST_P] = price[i]
            state[s, _FILLS] += 1
            state[s, _TRADES] += n_trades[i]
            continue
        if is_open[s]:
            out[k] = state[s]
            k += 1
        is_open[s] = True
        state[s, _SYM] = s
        state[s, _TIME] = time[i]
        state[s, _SELL] = sell[i]
        state[s, _FIRST_AGG] = agg[i]
        state[s, _LAST_AGG] = agg[i]
        state[s, _QTY] = qty[i]
        state[s, _QUOTE] = price[i] * qty[i]
        state[s, _FIRST_P] = price[i]
        state[s, _LAST_P] = price[i]
        state[s, _FILLS] = 1
        state[s, _TRADES] = n_trades[i]
    return k


class BigOrderDetector:
    """Taker orders of all contracts from `TRADE_DTYPE` micro-batches, and a big-order history.

    A run may continue in the next batch, so each contract's last run stays open until a trade
    that ends it arrives or `flush(now_ms)` finds it more than `grace_ms` old. Emitted orders
    equal `taker_orders` on the same trades, however the trades are split into batches.

    History: every order at or above `keep_fraction` of ADV (0.05 %), or, for contracts without
    an ADV, at or above `keep_notional_without_adv` USD, is kept in a bounded ring with sequence
    numbers. `big_since` filters it at the current threshold and floor, so raising them (or
    lowering them down to the keep levels) changes the screener without losing rows.
    """

    def __init__(
        self,
        registry: SymbolRegistry,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        min_notional: float = 0.0,
        grace_ms: int = 1_000,
        history_size: int = 20_000,
        keep_fraction: float = 0.0005,
        keep_notional_without_adv: float = 50_000.0,
    ) -> None:
        self.registry = registry
        self.grace_ms = int(grace_ms)
        self.keep_fraction = _check_threshold(keep_fraction)
        self.keep_notional_without_adv = float(keep_notional_without_adv)
        self._threshold = DEFAULT_THRESHOLD
        self.threshold = threshold
        self.min_notional = float(min_notional)
        self.history = SequencedRing(TAKER_ORDER_DTYPE, history_size)
        self._grid = Grid.of(registry)
        self._adv = np.full(len(registry), np.nan)
        self._state = np.zeros((len(registry), _RUN_WIDTH), np.int64)
        self._open = np.zeros(len(registry), dtype=bool)
        self.unknown_symbol_trades = 0

    @property
    def threshold(self) -> float:
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        value = _check_threshold(value)
        if value < self.keep_fraction:
            # Orders already passed over below the old keep level are gone; from now on keep more.
            log.info("keep level lowered to the threshold %.5f of ADV", value)
            self.keep_fraction = value
        self._threshold = value

    @property
    def last_seq(self) -> int:
        return self.history.last_seq

    @property
    def open_runs(self) -> int:
        return int(self._open.sum())

    def set_adv(self, adv: Mapping[str, float] | pd.Series) -> None:
        """Set the ADV of contracts (symbol -> USD); contracts not named keep theirs."""
        self._grow()
        for symbol, value in adv.items():
            sym = self.registry.index(symbol)
            if sym is not None:
                self._adv[sym] = float(value)

    def update(self, batch: np.ndarray) -> np.ndarray:
        """Add a micro-batch; returns the orders it completed (`TAKER_ORDER_DTYPE`)."""
        if batch.dtype != TRADE_DTYPE:
            raise ValueError(f"expected a TRADE_DTYPE batch, got {batch.dtype}")
        self._grow()
        known = self.registry.known(batch)
        if not known.all():
            self.unknown_symbol_trades += int((~known).sum())
            log.warning("dropped %d trades of symbols outside the registry", int((~known).sum()))
            batch = batch[known]
        batch = in_trade_order(batch)
        out = np.empty((len(batch), _RUN_WIDTH), np.int64)
        k = _stream_runs(
            batch["sym"].astype(np.int64),
            batch["time"],
            batch["buyer_maker"].astype(np.int64),
            batch["agg_id"],
            batch["price"],
            batch["qty"],
            batch["last_id"] - batch["first_id"] + 1,
            self._state,
            self._open,
            out,
        )
        return self._emit(out[:k])

    def flush(self, now_ms: int | None = None) -> np.ndarray:
        """Close open runs more than `grace_ms` old at `now_ms` (all of them when None)."""
        due = self._open.copy()
        if now_ms is not None:
            due &= self._state[:, _TIME] < int(now_ms) - self.grace_ms
        self._open &= ~due
        return self._emit(self._state[due])

    def big_since(
        self,
        seq: int = 0,
        *,
        threshold: float | None = None,
        min_notional: float | None = None,
    ) -> pd.DataFrame:
        """Big orders with a sequence number above `seq` (column `seq`), at the current rule
        or the `threshold`/`min_notional` given."""
        rows, seqs = self.history.since(seq)
        thr = self._threshold if threshold is None else _check_threshold(threshold)
        floor = self.min_notional if min_notional is None else float(min_notional)
        mask = big_mask(rows["notional"], rows["adv"], thr, floor)
        frame = orders_frame(rows[mask], self.registry)
        frame.insert(0, "seq", seqs[mask])
        return frame

    def _emit(self, runs: np.ndarray) -> np.ndarray:
        orders = _orders(runs, self._grid, self._adv)
        if len(orders):
            known = np.isfinite(orders["adv"]) & (orders["adv"] > 0)
            keep = big_mask(orders["notional"], orders["adv"], self.keep_fraction, 0.0) | (
                ~known & (orders["notional"] >= self.keep_notional_without_adv)
            )
            kept = orders[keep]
            self.history.append(kept[np.lexsort((kept["sym"], kept["time"]))])
        return orders

    def _grow(self) -> None:
        n = len(self.registry)
        if n == len(self._grid):
            return
        extra = n - len(self._grid)
        self._grid = Grid.of(self.registry)
        self._adv = np.r_[self._adv, np.full(extra, np.nan)]
        self._state = np.vstack([self._state, np.zeros((extra, _RUN_WIDTH), np.int64)])
        self._open = np.r_[self._open, np.zeros(extra, dtype=bool)]
