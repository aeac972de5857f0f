"""Read API over the store, for the engine's recovery and for the dashboard.

Every thread gets its own read-only connection (WAL lets readers run beside the writer and see
only committed transactions). Time ranges are half-open `[start_ms, end_ms)` in epoch ms;
minute reads return the whole minutes that overlap the range.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.analytics.bigorders import ORDER_COLUMNS
from pipelines.analytics.bookhistory import replay
from pipelines.analytics.localbook import BookLevels
from pipelines.analytics.profile import MinuteProfile
from pipelines.analytics.signals import signal_frame
from pipelines.binance.archive import trades_to_frame
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.dtypes import TRADE_DTYPE
from pipelines.records.timeunits import MINUTE_MS
from pipelines.storage.book_rows import read_book_seconds
from pipelines.storage.minutes import BAR_COLUMNS, PROFILE_COLUMNS, profile_from_rows
from pipelines.storage.schema import SchemaOutdatedError, connect, default_db_path
from pipelines.storage.signal_rows import SELECT_SIGNALS, read_signals
from pipelines.storage.symbols import read_specs

_FETCH_ROWS = 65_536  # rows turned into numpy at a time (`_chunks`)


class UnknownSymbolError(LookupError):
    """The symbol has never been stored."""


@dataclass(frozen=True, slots=True)
class Coverage:
    """What is stored for one symbol (times in epoch ms, None when nothing is stored)."""

    symbol: str
    first_trade_ms: int | None
    last_trade_ms: int | None
    first_minute_ms: int | None
    last_minute_ms: int | None
    last_agg_id: int | None  # the recovery checkpoint (kept after the trades are pruned)


class Store:
    """Read-only access to an existing store file (an older schema is migrated once on open)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, busy_timeout_ms: int = 5000):
        self.path = Path(path) if path is not None else default_db_path()
        self._timeout = busy_timeout_ms
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            self._conn()
        except SchemaOutdatedError:
            connect(self.path, busy_timeout_ms=busy_timeout_ms).close()  # migrates
            self._conn()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # Used by this thread only; `close` may run in another one.
            conn = connect(
                self.path, readonly=True, busy_timeout_ms=self._timeout, check_same_thread=False
            )
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every thread's connection (call when no thread reads any more)."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ symbols

    def _specs(self) -> dict[int, ContractSpec]:
        return read_specs(self._conn())

    def symbols(self) -> list[str]:
        return [spec.symbol for spec in self._specs().values()]

    def load_registry(self) -> SymbolRegistry:
        """The stored symbols with their grids; indices follow storage order."""
        return SymbolRegistry(list(self._specs().values()))

    def spec(self, symbol: str) -> ContractSpec:
        return self._lookup(symbol)[1]

    def _lookup(
        self, symbol: str, specs: dict[int, ContractSpec] | None = None
    ) -> tuple[int, ContractSpec, int]:
        """(stored id, grid, index in `load_registry()`) of a symbol."""
        for index, (sid, spec) in enumerate((specs or self._specs()).items()):
            if spec.symbol == symbol:
                return sid, spec, index
        raise UnknownSymbolError(f"{symbol!r} is not in the store at {self.path}")

    def last_agg_ids(self) -> dict[str, int]:
        """Recovery checkpoint: the last stored aggTrade id per symbol (survives pruning)."""
        rows = self._conn().execute(
            "SELECT symbol, last_agg_id FROM symbols WHERE last_agg_id IS NOT NULL"
        )
        return {symbol: int(last) for symbol, last in rows}

    # ------------------------------------------------------------------ trades

    def load_trades(
        self, symbol: str, start_ms: int, end_ms: int
    ) -> tuple[np.ndarray, ContractSpec]:
        """Trades with transact_time in [start_ms, end_ms) as TRADE_DTYPE on the stored grid.

        `sym` is the symbol's index in `load_registry()`; `event_time` is 0 (not stored).
        """
        start_ms, end_ms = _range(start_ms, end_ms)
        sid, spec, index = self._lookup(symbol)
        conn = self._conn()
        # Trade time is not in the key; the minute bars give the aggTrade-id range to read.
        lo, hi = conn.execute(
            "SELECT min(first_agg_id), max(last_agg_id) FROM minute_bar_rows "
            "WHERE sym_id = ? AND minute >= ? AND minute < ?",
            (sid, _minute_floor(start_ms), end_ms),
        ).fetchone()
        out = np.zeros(0, dtype=TRADE_DTYPE)
        if lo is None:
            return out, spec
        cursor = conn.execute(
            "SELECT agg_trade_id, first_trade_id, last_trade_id, transact_time, price_ticks, "
            "qty_steps, is_buyer_maker FROM trade_rows WHERE sym_id = ? "
            "AND agg_trade_id BETWEEN ? AND ? AND transact_time >= ? AND transact_time < ? "
            "ORDER BY agg_trade_id",
            (sid, lo, hi, start_ms, end_ms),
        )
        values = _int_rows(cursor, 7)
        if not len(values):
            return out, spec
        out = np.zeros(len(values), dtype=TRADE_DTYPE)
        out["sym"] = index
        for col, name in enumerate(("agg_id", "first_id", "last_id", "time", "price", "qty")):
            out[name] = values[:, col]
        out["buyer_maker"] = values[:, 6] != 0
        return out, spec

    def load_trades_frame(self, symbol: str, start_ms: int, end_ms: int) -> pd.DataFrame:
        """The same trades in the data.binance.vision aggTrades layout (exact decimals)."""
        records, spec = self.load_trades(symbol, start_ms, end_ms)
        return trades_to_frame(records, spec)

    def trade_count(self, symbol: str | None = None) -> int:
        if symbol is None:
            return int(self._conn().execute("SELECT count(*) FROM trade_rows").fetchone()[0])
        sid = self._lookup(symbol)[0]
        sql = "SELECT count(*) FROM trade_rows WHERE sym_id = ?"
        return int(self._conn().execute(sql, (sid,)).fetchone()[0])

    def coverage(self, symbol: str) -> Coverage:
        sid = self._lookup(symbol)[0]
        conn = self._conn()

        def one(sql: str) -> int | None:
            row = conn.execute(sql, (sid,)).fetchone()
            return None if row is None or row[0] is None else int(row[0])

        base = "SELECT transact_time FROM trade_rows WHERE sym_id = ? ORDER BY agg_trade_id"
        return Coverage(
            symbol=symbol,
            first_trade_ms=one(base + " LIMIT 1"),
            last_trade_ms=one(base + " DESC LIMIT 1"),
            first_minute_ms=one("SELECT min(minute) FROM minute_bar_rows WHERE sym_id = ?"),
            last_minute_ms=one("SELECT max(minute) FROM minute_bar_rows WHERE sym_id = ?"),
            last_agg_id=one("SELECT last_agg_id FROM symbols WHERE id = ?"),
        )

    # ------------------------------------------------------------------ minutes

    def load_minute_profiles(
        self, symbol: str, start_ms: int, end_ms: int
    ) -> tuple[pd.DataFrame, ContractSpec]:
        """Per-minute, per-tick taker volume (grid integers) of the minutes overlapping the range.

        Columns: minute, price_ticks, bid_qty_steps (taker sells), ask_qty_steps (taker buys),
        bid_trades, ask_trades; sorted by (minute, price_ticks).
        """
        cols = PROFILE_COLUMNS[1:]  # the stored columns after sym_id
        return self._minute_table("minute_profile_rows", cols, 2, symbol, start_ms, end_ms)

    def load_minute_bars(
        self, symbol: str, start_ms: int, end_ms: int
    ) -> tuple[pd.DataFrame, ContractSpec]:
        """Per-minute bars (grid integers) of the minutes overlapping the range, by minute."""
        cols = BAR_COLUMNS[1:]  # the stored columns after sym_id
        return self._minute_table("minute_bar_rows", cols, 1, symbol, start_ms, end_ms)

    def _minute_table(
        self,
        table: str,
        cols: tuple[str, ...],
        key_cols: int,
        symbol: str,
        start_ms: int,
        end_ms: int,
    ) -> tuple[pd.DataFrame, ContractSpec]:
        start_ms, end_ms = _range(start_ms, end_ms)
        sid, spec, _ = self._lookup(symbol)
        cursor = self._conn().execute(
            f"SELECT {', '.join(cols)} FROM {table} WHERE sym_id = ? AND minute >= ? "
            f"AND minute < ? ORDER BY {', '.join(cols[:key_cols])}",
            (sid, _minute_floor(start_ms), end_ms),
        )
        values = _int_rows(cursor, len(cols))
        return pd.DataFrame({c: values[:, i] for i, c in enumerate(cols)}), spec

    def load_minute_profile(self, symbol: str, start_ms: int, end_ms: int) -> MinuteProfile:
        """The minutes overlapping the range as a footprint `MinuteProfile` (for any bin/timeframe)."""
        profiles, spec = self.load_minute_profiles(symbol, start_ms, end_ms)
        bars, _ = self.load_minute_bars(symbol, start_ms, end_ms)
        return profile_from_rows(spec, profiles.to_numpy(np.int64), bars.to_numpy(np.int64))

    # ------------------------------------------------------------------ events

    def load_liquidations(
        self,
        start_ms: int,
        end_ms: int,
        min_notional: float = 0.0,
        symbol: str | None = None,
    ) -> pd.DataFrame:
        """Liquidations in the range with notional >= min_notional, by time.

        Columns: symbol, timestamp, side (order side: SELL closes a long), price, quantity,
        notional, event_time.
        """
        cols = ("symbol", "timestamp", "side", "price", "quantity", "notional", "event_time")
        return self._events(
            "liquidations", "timestamp", cols, start_ms, end_ms, min_notional, symbol
        )

    def load_big_orders(
        self,
        start_ms: int,
        end_ms: int,
        min_notional: float = 0.0,
        symbol: str | None = None,
    ) -> pd.DataFrame:
        """Detected big taker orders in the range, by time (columns as in `big_orders`)."""
        return self._events(
            "big_orders", "time", ORDER_COLUMNS, start_ms, end_ms, min_notional, symbol
        )

    def load_imbalances(
        self, start_ms: int, end_ms: int, symbol: str | None = None
    ) -> pd.DataFrame:
        cols = ("symbol", "timestamp", "bid_volume", "ask_volume", "imbalance_ratio")
        return self._events("order_imbalances", "timestamp", cols, start_ms, end_ms, None, symbol)

    def _events(
        self,
        table: str,
        time_col: str,
        cols: tuple[str, ...],
        start_ms: int,
        end_ms: int,
        min_notional: float | None,
        symbol: str | None,
    ) -> pd.DataFrame:
        start_ms, end_ms = _range(start_ms, end_ms)
        sql = f"SELECT {', '.join(cols)} FROM {table} WHERE {time_col} >= ? AND {time_col} < ?"
        args: list = [start_ms, end_ms]
        if min_notional:
            sql += " AND notional >= ?"
            args.append(float(min_notional))
        if symbol is not None:
            sql += " AND symbol = ?"
            args.append(symbol)
        rows = self._conn().execute(sql + f" ORDER BY {time_col}, id", args).fetchall()
        return pd.DataFrame(rows, columns=list(cols))

    # ------------------------------------------------------------------ signals

    def load_signals(
        self, start_ms: int, end_ms: int, symbols: Iterable[str] | None = None
    ) -> tuple[np.ndarray, SymbolRegistry]:
        """Signals of the bars opening in [start_ms, end_ms), of all symbols or of `symbols`
        (a name or names; one never stored raises UnknownSymbolError).

        Returns (SIGNAL_DTYPE rows, the registry they index): `sym` is the index in that
        registry (the stored symbols, as `load_registry()`), prices and quantities are on the
        stored grid, so the integers are those submitted (on a grid that has not changed since).
        Rows are by bar time, then contract, timeframe, kind, side and price.
        `signal_frame(*store.load_signals(...))` is the output schema (`load_signals_frame`).
        """
        start_ms, end_ms = _range(start_ms, end_ms)
        conn = self._conn()
        conn.execute("BEGIN")  # one snapshot: a grid change rescales rows and grid together
        try:
            specs = self._specs()
            sql = SELECT_SIGNALS + " WHERE bar_time >= ? AND bar_time < ?"
            args: list = [start_ms, end_ms]
            if symbols is not None:
                names = [symbols] if isinstance(symbols, str) else list(symbols)
                sids = [self._lookup(symbol, specs)[0] for symbol in names]
                sql += f" AND sym_id IN ({', '.join('?' * len(sids))})"
                args += sids
            rows = read_signals(
                _chunks(conn.execute(sql, args)), {sid: index for index, sid in enumerate(specs)}
            )
        finally:
            conn.execute("COMMIT")
        return rows, SymbolRegistry(list(specs.values()))

    def load_signals_frame(
        self, start_ms: int, end_ms: int, symbols: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """The same signals in the output schema (SIGNAL_COLUMNS, floats made once)."""
        return signal_frame(*self.load_signals(start_ms, end_ms, symbols))

    # ------------------------------------------------------------------ book history

    def load_book(
        self, symbol: str, start_ms: int, end_ms: int
    ) -> tuple[list[tuple[int, BookLevels]], ContractSpec | None]:
        """The stored book at the end of every second in [start_ms, end_ms): (second end, whole
        book within its band) by time, and the grid the integers are on (None: no book stored
        for the range). Seconds without a synced book are absent. A grid change inside the
        range ends the answer at it (the rows after it are on another grid)."""
        start_ms, end_ms = _range(start_ms, end_ms)
        conn = self._conn()
        conn.execute("BEGIN")  # one snapshot: the keyframe and the changes after it
        try:
            rows = list(read_book_seconds(conn, symbol, start_ms, end_ms))
            known = (
                rows
                or conn.execute(
                    "SELECT 1 FROM book_seconds WHERE symbol = ? LIMIT 1", (symbol,)
                ).fetchone()
            )
        finally:
            conn.execute("COMMIT")
        if not known and symbol not in self.symbols():
            raise UnknownSymbolError(f"{symbol!r} is not in the store at {self.path}")
        if not rows:
            return [], None
        spec = rows[0][0]
        seconds = [second for grid, second in rows[: next(
            (i for i, (grid, _) in enumerate(rows) if grid != spec), len(rows)
        )]]  # fmt: skip
        return [(t, levels) for t, levels in replay(seconds) if t >= start_ms], spec


def _range(start_ms: int, end_ms: int) -> tuple[int, int]:
    try:
        start, end = int(start_ms), int(end_ms)
    except (TypeError, ValueError):
        raise ValueError(
            f"times must be epoch milliseconds, got {start_ms!r}, {end_ms!r}"
        ) from None
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    return start, end


def _int_rows(cursor: sqlite3.Cursor, width: int) -> np.ndarray:
    """An all-integer result set as an (n, width) int64 array, converted a chunk at a time:
    an hour of BTCUSDT (a million rows) never exists as a million Python tuples at once."""
    parts = [np.zeros((0, width), np.int64)]
    parts += [np.array(chunk, dtype=np.int64) for chunk in _chunks(cursor)]
    return np.concatenate(parts)


def _chunks(cursor: sqlite3.Cursor) -> Iterator[list[tuple]]:
    """A result set `_FETCH_ROWS` rows at a time."""
    while chunk := cursor.fetchmany(_FETCH_ROWS):
        yield chunk


def _minute_floor(ms: int) -> int:
    return ms // MINUTE_MS * MINUTE_MS
