"""Buyer/seller imbalance per contract: taker trade flow over rolling windows, and the book.

Trade-flow imbalance = (buy - sell) / (buy + sell) of taker quote volume (price x quantity),
in [-1, 1]; NaN when the window holds no trade (so "no flow" is not shown as "balanced").
Windows are minute-aligned: at `now_ms` a window of W minutes holds the W complete minutes
before the current one plus the current, partial minute (every trade received for it). Minute m
is floor(transact_time / 60 000).

Book imbalance (of the top levels and of a band around the mid): `book_imbalance.py`.

Sums are integers (ticks x steps for quote, steps for base, counts) and become floats once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from pipelines.analytics.book_imbalance import book_imbalance_arrays, imbalance_ratio
from pipelines.analytics.tradeframe import Grid, Specs, contract_spec, records_from_frame
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.batch import BookTop
from pipelines.records.dtypes import TRADE_DTYPE
from pipelines.records.timeunits import MINUTE_MS

WINDOWS = {"1m": 1, "5m": 5, "15m": 15, "1h": 60}
DEFAULT_WINDOWS = tuple(WINDOWS)
HISTORY_MINUTES = 1440
MINUTE_TOTAL_COLUMNS = ("symbol", "timestamp", "bid_volume", "ask_volume", "imbalance_ratio")
FLOW_COLUMNS = (
    "symbol",
    "window",
    "buy_quote",
    "sell_quote",
    "delta_quote",
    "buy_trades",
    "sell_trades",
    "imbalance",
)

# Integer sums kept per contract and minute.
_FIELDS = ("buy_units", "sell_units", "buy_steps", "sell_steps", "buy_trades", "sell_trades")


def window_minutes(window: str) -> int:
    try:
        return WINDOWS[window]
    except (KeyError, TypeError):
        raise ValueError(f"unknown window {window!r}; use one of {', '.join(WINDOWS)}") from None


# ---------------------------------------------------------------- pure functions on frames


def trade_flow_imbalance(
    trades: pd.DataFrame,
    now_ms: int,
    *,
    windows: Sequence[str] = DEFAULT_WINDOWS,
    specs: Specs = None,
    symbol: str = "",
) -> pd.DataFrame:
    """Taker flow per contract and window (FLOW_COLUMNS), for contracts that traded in it.

    `trades`: aggTrades frame (data.binance.vision layout) with a `symbol` column, or of the one
    contract `symbol`. Grids not in `specs` are inferred from the data.
    """
    sums, registry = _minute_sums(trades, specs, symbol)
    m_now = int(now_ms) // MINUTE_MS
    parts = []
    for window in windows:
        span = window_minutes(window)
        inside = sums[(sums["minute"] >= m_now - span) & (sums["minute"] <= m_now)]
        totals = inside.groupby("sym", sort=True)[list(_FIELDS)].sum()
        parts.append(
            _flow_frame(window, totals.index.to_numpy(), totals, Grid.of(registry), registry)
        )
    return pd.concat(parts, ignore_index=True) if parts else _flow_frame_empty()


def imbalance_heatmap(
    trades: pd.DataFrame,
    now_ms: int,
    *,
    minutes: int = HISTORY_MINUTES,
    specs: Specs = None,
    symbol: str = "",
) -> pd.DataFrame:
    """Contracts x minutes of trade-flow imbalance (columns: minute open, epoch ms; NaN: no
    trade), for the `minutes` complete minutes before now and the current one."""
    sums, registry = _minute_sums(trades, specs, symbol)
    m_now = int(now_ms) // MINUTE_MS
    first = m_now - int(minutes)
    sums = sums[(sums["minute"] >= first) & (sums["minute"] <= m_now)]
    grid = Grid.of(registry)
    syms = np.unique(sums["sym"].to_numpy())
    buy = np.zeros((len(syms), m_now - first + 1), np.int64)
    sell = np.zeros_like(buy)
    rows = np.searchsorted(syms, sums["sym"].to_numpy())
    cols = sums["minute"].to_numpy() - first
    buy[rows, cols] = sums["buy_units"].to_numpy()
    sell[rows, cols] = sums["sell_units"].to_numpy()
    return _heatmap_frame(syms, first, buy, sell, grid, registry)


def cvd_per_minute(
    trades: pd.DataFrame,
    now_ms: int,
    *,
    minutes: int = HISTORY_MINUTES,
    step_size: float | str | None = None,
) -> pd.DataFrame:
    """One contract's taker buy/sell base volume, delta and cumulative delta per minute, for
    every minute of the `minutes` complete minutes before now and the current one (zeros where
    nothing traded); the CVD starts at zero at the first minute shown. Without `step_size` the
    step is inferred from the quantity decimals."""
    single = trades.drop(columns="symbol", errors="ignore")
    specs = {"": contract_spec(single, step_size=step_size)}
    sums, registry = _minute_sums(single, specs, "")
    m_now = int(now_ms) // MINUTE_MS
    first = m_now - int(minutes)
    sums = sums[(sums["minute"] >= first) & (sums["minute"] <= m_now)]
    buy = np.zeros(m_now - first + 1, np.int64)
    sell = np.zeros_like(buy)
    buy[sums["minute"].to_numpy() - first] = sums["buy_steps"].to_numpy()
    sell[sums["minute"].to_numpy() - first] = sums["sell_steps"].to_numpy()
    return _cvd_frame(first, buy, sell, Grid.of(registry), 0)


def _minute_sums(
    trades: pd.DataFrame, specs: Specs, symbol: str
) -> tuple[pd.DataFrame, SymbolRegistry]:
    """Integer sums per (sym, minute) of a frame, via a pandas groupby."""
    records, registry = records_from_frame(trades, specs=specs, symbol=symbol)
    sell = records["buyer_maker"]
    units = records["price"] * records["qty"]
    frame = pd.DataFrame(
        {
            "sym": records["sym"].astype(np.int64),
            "minute": records["time"] // MINUTE_MS,
            "buy_units": np.where(sell, 0, units),
            "sell_units": np.where(sell, units, 0),
            "buy_steps": np.where(sell, 0, records["qty"]),
            "sell_steps": np.where(sell, records["qty"], 0),
            "buy_trades": (~sell).astype(np.int64),
            "sell_trades": sell.astype(np.int64),
        }
    )
    sums = frame.groupby(["sym", "minute"], sort=True).sum().reset_index()
    return sums, registry


# ---------------------------------------------------------------- frames shared by both paths


def _flow_frame(
    window: str, syms: np.ndarray, totals: pd.DataFrame | dict, grid: Grid, registry: SymbolRegistry
) -> pd.DataFrame:
    buy = grid.quote(syms, np.asarray(totals["buy_units"], dtype=np.int64))
    sell = grid.quote(syms, np.asarray(totals["sell_units"], dtype=np.int64))
    return pd.DataFrame(
        {
            "symbol": np.array([registry.symbol(int(s)) for s in syms], dtype=object),
            "window": window,
            "buy_quote": buy,
            "sell_quote": sell,
            "delta_quote": buy - sell,
            "buy_trades": np.asarray(totals["buy_trades"], dtype=np.int64),
            "sell_trades": np.asarray(totals["sell_trades"], dtype=np.int64),
            "imbalance": imbalance_ratio(buy, sell),
        }
    )


def _flow_frame_empty() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in FLOW_COLUMNS})


def _heatmap_frame(
    syms: np.ndarray,
    first_minute: int,
    buy_units: np.ndarray,
    sell_units: np.ndarray,
    grid: Grid,
    registry: SymbolRegistry,
) -> pd.DataFrame:
    rows = syms[:, None]
    values = imbalance_ratio(grid.quote(rows, buy_units), grid.quote(rows, sell_units))
    minutes = (first_minute + np.arange(buy_units.shape[1])) * MINUTE_MS
    return pd.DataFrame(
        values,
        index=pd.Index([registry.symbol(int(s)) for s in syms], name="symbol", dtype=object),
        columns=pd.Index(minutes, name="minute"),
    )


def _cvd_frame(
    first_minute: int, buy_steps: np.ndarray, sell_steps: np.ndarray, grid: Grid, sym: int
) -> pd.DataFrame:
    delta = buy_steps - sell_steps
    return pd.DataFrame(
        {
            "minute": (first_minute + np.arange(len(buy_steps))) * MINUTE_MS,
            "buy_volume": grid.qty(sym, buy_steps),
            "sell_volume": grid.qty(sym, sell_steps),
            "delta": grid.qty(sym, delta),
            "cvd": grid.qty(sym, np.cumsum(delta)),
        }
    )


# ---------------------------------------------------------------- incremental


class ImbalanceTracker:
    """Per-minute taker flow of every contract over the last `history_minutes`, fed by batches.

    Ring matrices (contracts x minute slots) hold integer sums per minute; a slot is reused for a
    newer minute after `history_minutes` + 1 minutes, and trades for minutes already reused are
    dropped (counted in `late_trades`). Rows grow with the registry. Windows, heatmap and CVD
    are read from the matrices and equal the pure functions on the same trades.
    """

    def __init__(
        self,
        registry: SymbolRegistry,
        *,
        history_minutes: int = HISTORY_MINUTES,
        book_levels: int = 10,
        band_bps: float = 10.0,
    ) -> None:
        if history_minutes < max(WINDOWS.values()):
            raise ValueError(
                f"history_minutes must cover the longest window, got {history_minutes}"
            )
        self.registry = registry
        self.history_minutes = int(history_minutes)
        self.book_levels = int(book_levels)
        self.band_bps = float(band_bps)
        self._slots = self.history_minutes + 1
        self._slot_minute = np.full(self._slots, -1, np.int64)
        self._sums = np.zeros((len(_FIELDS), 0, self._slots), np.int64)
        self._grid = Grid.of(registry)
        self._book = np.zeros((0, 3))  # book imbalance, band imbalance, event time
        self._pending: dict[int, BookTop] = {}  # latest books not yet computed
        self._grow()
        self.late_trades = 0
        self.unknown_symbol_trades = 0
        # The minute of the first trade taken live: earlier minutes can only come from the
        # store (`restore`) or from klines (`fill_from_klines`).
        self.first_minute: int | None = None
        self.kline_minutes = 0  # contract-minutes filled from klines

    def _grow(self) -> None:
        n = len(self.registry)
        have = self._sums.shape[1]
        if n == have:
            return
        self._grid = Grid.of(self.registry)
        extra = np.zeros((len(_FIELDS), n - have, self._slots), np.int64)
        self._sums = np.concatenate([self._sums, extra], axis=1)
        self._from_klines = np.vstack(
            [getattr(self, "_from_klines", np.zeros((0, self._slots), bool)),
             np.zeros((n - have, self._slots), bool)]
        )  # fmt: skip
        book = np.full((n - have, 3), np.nan)
        self._book = np.vstack([self._book, book])
        self._first_live = np.r_[getattr(self, "_first_live", np.zeros(0, np.int64)),
                                 np.full(n - have, -1, np.int64)]  # fmt: skip

    def update(self, batch: np.ndarray) -> None:
        """Add a micro-batch of trades (all contracts mixed)."""
        if batch.dtype != TRADE_DTYPE:
            raise ValueError(f"expected a TRADE_DTYPE batch, got {batch.dtype}")
        self._grow()
        known = self.registry.known(batch)
        if not known.all():
            self.unknown_symbol_trades += int((~known).sum())
            batch = batch[known]
        if len(batch) == 0:
            return
        minute = batch["time"] // MINUTE_MS
        if self.first_minute is None:
            self.first_minute = int(minute.min())
        unseen = self._first_live[batch["sym"]] < 0
        if unseen.any():  # each contract's first live minute (minute order within a contract)
            first = np.full(len(self._first_live), np.iinfo(np.int64).max)
            np.minimum.at(first, batch["sym"][unseen], minute[unseen])
            new = first < np.iinfo(np.int64).max
            self._first_live[new] = first[new]
        for m in np.unique(minute):
            self._claim(int(m))
        slot = minute % self._slots
        # A minute a kline filled is whole already: its trades would count twice.
        current = (self._slot_minute[slot] == minute) & ~self._from_klines[batch["sym"], slot]
        if not current.all():
            self.late_trades += int((~current).sum())
            batch, slot = batch[current], slot[current]
        sell = batch["buyer_maker"]
        sym = batch["sym"]
        units = batch["price"] * batch["qty"]
        zero = np.zeros(len(batch), np.int64)
        one = np.ones(len(batch), np.int64)
        values = (
            np.where(sell, zero, units),
            np.where(sell, units, zero),
            np.where(sell, zero, batch["qty"]),
            np.where(sell, batch["qty"], zero),
            np.where(sell, zero, one),
            np.where(sell, one, zero),
        )
        for f, v in enumerate(values):
            np.add.at(self._sums[f], (sym, slot), v)

    def first_live_minute(self, sym: int) -> int | None:
        """The minute of a contract's first live trade (None before it): the engine saw only
        the end of it when its stream was subscribed during it."""
        self._grow()
        first = int(self._first_live[sym]) if 0 <= sym < len(self._first_live) else -1
        return first if first >= 0 else None

    @property
    def newest_minute(self) -> int:
        """The newest minute any contract traded in (-1 before the first trade)."""
        return int(self._slot_minute.max())

    def _claim(self, minute: int) -> bool:
        """Make `minute`'s slot hold it (clearing an older minute); False if it holds a newer."""
        slot = minute % self._slots
        if self._slot_minute[slot] > minute:
            return False
        if self._slot_minute[slot] < minute:
            self._sums[:, :, slot] = 0
            self._from_klines[:, slot] = False
            self._slot_minute[slot] = minute
        return True

    def fill_from_klines(self, sym: int, klines: pd.DataFrame, closed_before_ms: int) -> int:
        """Minutes of one contract from its 1m klines (`binance.parsers.parse_klines`) that
        ended before `closed_before_ms`, where the tracker has nothing of its own: before the
        contract's first live minute, and not restored from the store. The first live minute
        itself is taken too: the engine may have seen only its end (its stream was subscribed
        during it), the kline holds all of it. Returns the minutes taken.

        A kline carries per-minute quote and taker-buy quote volume, base volume and taker-buy
        base volume, so flow imbalance, rankings and CVD of those minutes are exactly those of
        the minute's trades. It carries no per-side trade count: such a minute counts no
        trades, and `is_from_klines` tells it apart.
        """
        self._grow()
        if len(klines) == 0 or not 0 <= sym < len(self.registry):
            return 0
        minute = klines["open_time"].to_numpy(np.int64) // MINUTE_MS
        first = self.first_live_minute(sym)
        own = first if first is not None else np.iinfo(np.int64).max
        closed = klines["close_time"].to_numpy(np.int64) < closed_before_ms
        rows = np.flatnonzero((minute <= own) & closed & (klines["trades"].to_numpy() > 0))
        quote = self._grid.units(sym, klines["quote_volume"].to_numpy()[rows])
        buy = self._grid.units(sym, klines["taker_buy_quote_volume"].to_numpy()[rows])
        base = self.registry.to_steps(np.full(len(rows), sym), klines["volume"].to_numpy()[rows])
        buy_base = self.registry.to_steps(
            np.full(len(rows), sym), klines["taker_buy_volume"].to_numpy()[rows]
        )
        taken = 0
        for i, m in enumerate(minute[rows].tolist()):
            slot = m % self._slots
            if not self._claim(m) or (m != own and self._sums[:2, sym, slot].any()):
                continue  # a newer minute holds the slot, or the store restored this one
            self._sums[:, sym, slot] = (buy[i], quote[i] - buy[i], buy_base[i],
                                        base[i] - buy_base[i], 0, 0)  # fmt: skip
            self._from_klines[sym, slot] = True
            taken += 1
        self.kline_minutes += taken
        return taken

    def is_from_klines(self, symbol: str, minutes: np.ndarray) -> np.ndarray:
        """Per minute (epoch ms of its open): whether `symbol`'s flow there came from a kline."""
        sym = self.registry.index(symbol)
        minute = np.asarray(minutes, np.int64) // MINUTE_MS
        slots = minute % self._slots
        if sym is None or sym >= self._from_klines.shape[0]:
            return np.zeros(len(minute), bool)
        return (self._slot_minute[slots] == minute) & self._from_klines[sym, slots]

    def restore(self, minutes: pd.DataFrame) -> int:
        """Take stored minutes (MINUTE_TOTAL_COLUMNS, as `minute_totals` gives them) into
        slots that hold nothing newer; returns how many rows were taken.

        The store keeps quote volume per side, not trade counts nor base quantity: a restored
        minute counts in the heatmap, the flow and the rankings' imbalance, with zero trades
        and no CVD.
        """
        self._grow()
        if len(minutes) == 0:
            return 0
        syms = np.array([self.registry.index(str(s)) for s in minutes["symbol"]], dtype=object)
        known = np.array([s is not None for s in syms], dtype=bool)
        minute = minutes["timestamp"].to_numpy(dtype=np.int64)[known] // MINUTE_MS
        sym = syms[known].astype(np.int64)
        slot = minute % self._slots
        taken = 0
        for m in np.unique(minute):
            if not self._claim(int(m)):
                continue  # the slot holds a newer minute already
            here = minute == m
            rows = sym[here]
            buy = self._grid.units(rows, minutes["ask_volume"].to_numpy()[known][here])
            sell = self._grid.units(rows, minutes["bid_volume"].to_numpy()[known][here])
            self._sums[0, rows, slot[here]] = buy
            self._sums[1, rows, slot[here]] = sell
            self._from_klines[rows, slot[here]] = False
            taken += int(here.sum())
        return taken

    def update_books(self, books: Iterable[BookTop]) -> None:
        """Take the latest book of each contract (older event times are ignored).

        Only the book is kept here; its imbalances are computed when a ranking asks, once per
        book (600 contracts push 1,200 books a second, rankings read a few times a second).
        """
        self._grow()
        n = len(self.registry)
        pending = self._pending
        computed = self._book[:, 2].tolist()  # one conversion, not a numpy read per book
        for book in books:
            if not 0 <= book.sym < n:
                continue
            held = pending.get(book.sym)
            newest = held.event_time if held is not None else computed[book.sym]
            if newest == newest and book.event_time < newest:  # NaN: no book yet
                continue
            pending[book.sym] = book

    def _settle_books(self) -> None:
        """Imbalances of the books that arrived since the last read."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        books = list(pending.values())
        top, band = book_imbalance_arrays(books, self.book_levels, self.band_bps)
        syms = np.fromiter(pending, np.int64, len(pending))
        self._book[syms] = np.column_stack([top, band, [b.event_time for b in books]])

    def _window(self, now_ms: int, minutes: int) -> tuple[np.ndarray, int]:
        """Valid slots of the `minutes` complete minutes before now plus the current one."""
        if minutes > self.history_minutes:
            raise ValueError(f"{minutes} minutes exceed the history of {self.history_minutes}")
        m_now = int(now_ms) // MINUTE_MS
        wanted = np.arange(m_now - minutes, m_now + 1)
        return wanted, m_now - minutes

    def _columns(self, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        slots = wanted % self._slots
        return slots, self._slot_minute[slots] == wanted

    def _window_totals(self, now_ms: int, window: str) -> np.ndarray:
        """Integer sums (_FIELDS x contracts) of `window`."""
        wanted, _ = self._window(now_ms, window_minutes(window))
        slots, valid = self._columns(wanted)
        return self._sums[:, :, slots[valid]].sum(axis=2)

    def flow(self, now_ms: int, windows: Sequence[str] = DEFAULT_WINDOWS) -> pd.DataFrame:
        """Same layout and values as `trade_flow_imbalance` on the trades received."""
        self._grow()
        parts = []
        for window in windows:
            totals = self._window_totals(now_ms, window)
            syms = np.flatnonzero(totals[0] + totals[1] > 0)  # units: restored minutes count
            by_field = {name: totals[f, syms] for f, name in enumerate(_FIELDS)}
            parts.append(_flow_frame(window, syms, by_field, self._grid, self.registry))
        return pd.concat(parts, ignore_index=True) if parts else _flow_frame_empty()

    def ranking(self, now_ms: int, window: str = "5m") -> pd.DataFrame:
        """One row per contract that traded in `window`: its flow, the imbalance of every
        window, and the latest book imbalances; strongest buying first."""
        window_minutes(window)
        self._grow()
        # Straight from the sums, one frame at the end: `flow` builds a frame per window,
        # which a ranking read once a second per session paid for four times over.
        totals = self._window_totals(now_ms, window)
        syms = np.flatnonzero(totals[0] + totals[1] > 0)  # units: restored minutes count
        frame = _flow_frame(
            window, syms, {name: totals[f, syms] for f, name in enumerate(_FIELDS)},
            self._grid, self.registry,
        ).drop(columns="window")  # fmt: skip
        for name in DEFAULT_WINDOWS:
            other = totals if name == window else self._window_totals(now_ms, name)
            quote = self._grid.quote
            frame[f"imbalance_{name}"] = imbalance_ratio(
                quote(syms, other[0, syms]), quote(syms, other[1, syms])
            )
        self._settle_books()
        frame["book_imbalance"] = self._book[syms, 0]
        frame["band_imbalance"] = self._book[syms, 1]
        return frame.sort_values("imbalance", ascending=False).reset_index(drop=True)

    def heatmap(self, now_ms: int, minutes: int = 60) -> pd.DataFrame:
        """Same as `imbalance_heatmap` on the trades received, for the last `minutes`."""
        self._grow()
        wanted, first = self._window(now_ms, minutes)
        slots, valid = self._columns(wanted)
        buy = np.where(valid, self._sums[0][:, slots], 0)
        sell = np.where(valid, self._sums[1][:, slots], 0)
        syms = np.flatnonzero((buy + sell).sum(axis=1) > 0)
        return _heatmap_frame(syms, first, buy[syms], sell[syms], self._grid, self.registry)

    def minute_totals(self, minute_ms: int) -> pd.DataFrame:
        """Every contract that traded in the minute opening at `minute_ms`: taker sell (bid)
        and buy (ask) quote volume and the imbalance, the rows the store keeps per minute."""
        self._grow()
        wanted = np.array([int(minute_ms) // MINUTE_MS])
        slots, valid = self._columns(wanted)
        if not valid[0]:
            return pd.DataFrame({c: [] for c in MINUTE_TOTAL_COLUMNS})
        trades = self._sums[4][:, slots[0]] + self._sums[5][:, slots[0]]
        syms = np.flatnonzero(trades > 0)
        buy = self._grid.quote(syms, self._sums[0][syms, slots[0]])
        sell = self._grid.quote(syms, self._sums[1][syms, slots[0]])
        return pd.DataFrame(
            {
                "symbol": [self.registry.symbol(int(s)) for s in syms],
                "timestamp": np.full(len(syms), wanted[0] * MINUTE_MS, np.int64),
                "bid_volume": sell,
                "ask_volume": buy,
                "imbalance_ratio": imbalance_ratio(buy, sell),
            }
        )

    def cvd(self, symbol: str, now_ms: int, minutes: int = HISTORY_MINUTES) -> pd.DataFrame:
        """Same as `cvd_per_minute` on the trades of `symbol` received."""
        self._grow()
        sym = self.registry.index(symbol)
        if sym is None:
            raise ValueError(f"unknown symbol {symbol!r}")
        wanted, first = self._window(now_ms, minutes)
        slots, valid = self._columns(wanted)
        buy = np.where(valid, self._sums[2][sym, slots], 0)
        sell = np.where(valid, self._sums[3][sym, slots], 0)
        return _cvd_frame(first, buy, sell, self._grid, sym)
