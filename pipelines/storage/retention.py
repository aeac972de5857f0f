"""Retention: raw trades for a short window, tick-level minute rows for a longer one.

Book history (`book_seconds`) is kept as long as the raw trades. Signals go with the minute rows they are read from (the same window): a signal is deleted once
its whole bar is older than the minute cutoff, so a 15-minute bar's signals stay while any of
its minutes does.

Each window is explicit (`--retention-trades`, `--retention-profiles`); 0 keeps forever, which
suits imported history. A pass that deletes anything logs what it removed.

Pruning deletes at most `chunk_rows` rows of one symbol per transaction, so the write lock is
held for milliseconds and the writer interleaves chunks with its batch writes. Trades are taken
in aggTrade-id order (the table's key order, which is time order within a symbol): each chunk
reads the symbol's oldest `chunk_rows` rows and deletes those older than the cutoff, so it never
scans the rows that are kept. `symbols.last_agg_id`, the recovery checkpoint, is never pruned.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from pipelines.records.timeunits import DAY_MS, HOUR_MS, MINUTE_MS
from pipelines.storage.schema import write_transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Retention:
    trades_ms: int = 48 * HOUR_MS  # 0: forever
    minutes_ms: int = 30 * DAY_MS  # minute profiles, minute bars and signals; 0: forever
    chunk_rows: int = 5000
    interval_ms: int = 60_000  # from the end of one pruning pass to the start of the next

    def __post_init__(self) -> None:
        for name in ("chunk_rows", "interval_ms"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"retention {name} must be positive, got {getattr(self, name)}")
        for name in ("trades_ms", "minutes_ms"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"retention {name} must be >= 0 (0 keeps forever)")
        if self.minutes_ms and not 0 < self.trades_ms <= self.minutes_ms:
            # Trade reads find their aggTrade-id range through the minute bars.
            raise ValueError("minute rows must be kept at least as long as raw trades")


_DELETE = {
    "trades": "DELETE FROM trade_rows WHERE sym_id = :id AND agg_trade_id IN ("
    "SELECT agg_trade_id FROM trade_rows WHERE sym_id = :id ORDER BY agg_trade_id LIMIT :n"
    ") AND transact_time < :cutoff",
    "profiles": "DELETE FROM minute_profile_rows WHERE (sym_id, minute, price_ticks) IN ("
    "SELECT sym_id, minute, price_ticks FROM minute_profile_rows "
    "WHERE sym_id = :id AND minute < :cutoff LIMIT :n)",
    "bars": "DELETE FROM minute_bar_rows WHERE sym_id = :id AND minute IN ("
    "SELECT minute FROM minute_bar_rows WHERE sym_id = :id AND minute < :cutoff LIMIT :n)",
    # Whole rows by (symbol, time); a change row left without its keyframe reads as a gap.
    "books": "DELETE FROM book_seconds WHERE symbol = :id AND time IN ("
    "SELECT time FROM book_seconds WHERE symbol = :id AND time < :cutoff LIMIT :n)",
    "signals": "DELETE FROM signal_rows "
    "WHERE (sym_id, bar_time, tf_ms, bin_ticks, kind, side, low_ticks) IN ("
    "SELECT sym_id, bar_time, tf_ms, bin_ticks, kind, side, low_ticks FROM signal_rows "
    "WHERE sym_id = :id AND bar_time < :cutoff AND bar_time + tf_ms <= :cutoff LIMIT :n)",
}


class Pruner:
    """Incremental pruning: `step()` deletes one chunk; a pass walks every (table, symbol)."""

    def __init__(
        self, conn: sqlite3.Connection, retention: Retention, clock: Callable[[], int]
    ) -> None:
        self._conn = conn
        self.retention = retention
        self._clock = clock
        # (table, sym_id or, for books, the symbol's name, cutoff), last first
        self._tasks: list[tuple[str, int | str, int]] = []
        self._next_pass_ms = 0
        self.pruned = {"trades": 0, "profiles": 0, "bars": 0, "signals": 0, "books": 0}
        self._pass_pruned = dict.fromkeys(self.pruned, 0)

    def due(self) -> bool:
        return bool(self._tasks) or self._clock() >= self._next_pass_ms

    def step(self) -> int:
        """Delete one chunk (starting a pass if one is due); returns the rows deleted."""
        if not self._tasks:
            if self._clock() < self._next_pass_ms:
                return 0
            self._start_pass()
        if not self._tasks:
            self._next_pass_ms = self._clock() + self.retention.interval_ms
            return 0
        table, sym_id, cutoff = self._tasks[-1]
        n = self.retention.chunk_rows
        with write_transaction(self._conn):
            deleted = self._conn.execute(
                _DELETE[table], {"id": sym_id, "cutoff": cutoff, "n": n}
            ).rowcount
        self.pruned[table] += deleted
        self._pass_pruned[table] += deleted
        if deleted < n:
            self._tasks.pop()
            if not self._tasks:
                self._next_pass_ms = self._clock() + self.retention.interval_ms
                self._end_pass()
        return deleted

    def _end_pass(self) -> None:
        removed, self._pass_pruned = self._pass_pruned, dict.fromkeys(self.pruned, 0)
        if any(removed.values()):
            log.info(
                "retention removed %d trades, %d book seconds (older than %s) and %d profile rows, "
                "%d minute bars, %d signals (older than %s)",
                removed["trades"], removed["books"], _age(self.retention.trades_ms),
                removed["profiles"],
                removed["bars"], removed["signals"], _age(self.retention.minutes_ms),
            )  # fmt: skip

    def run_pass(self) -> int:
        """A whole pass now, chunk by chunk (for tools and tests; the writer uses `step`)."""
        self._next_pass_ms = 0
        total = self.step()
        while self._tasks:
            total += self.step()
        return total

    def _start_pass(self) -> None:
        now = self._clock()
        windows = []
        if self.retention.minutes_ms:
            # Whole minutes only: a minute is kept while any part of it is inside the window.
            cutoff = (now - self.retention.minutes_ms) // MINUTE_MS * MINUTE_MS
            windows += [("signals", cutoff), ("bars", cutoff), ("profiles", cutoff)]
        if self.retention.trades_ms:
            windows.append(("trades", now - self.retention.trades_ms))
        ids = [row[0] for row in self._conn.execute("SELECT id FROM symbols ORDER BY id DESC")]
        self._tasks = [(table, sym_id, cutoff) for table, cutoff in windows for sym_id in ids]
        if self.retention.trades_ms:
            books = self._conn.execute("SELECT DISTINCT symbol FROM book_seconds")
            cutoff = now - self.retention.trades_ms
            self._tasks += [("books", symbol, cutoff) for (symbol,) in books]


def _age(ms: int) -> str:
    return "forever" if not ms else f"{ms / HOUR_MS:g} h"
