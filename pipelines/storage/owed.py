"""Trades the writer owes the store but no longer holds: one aggTrade id range per symbol.

When the rows waiting for the store pass the writer's memory bound, a batch's trades are not
kept; their ids are recorded here instead and the engine backfills them from REST
(`aggTrades?fromId=`) once the store writes again. One range per symbol (the smallest that
covers everything owed) keeps this bounded by the number of contracts: ids inside it that were
stored meanwhile come back as duplicates, which the writer ignores.
"""

from __future__ import annotations

import threading

import numpy as np


class OwedRanges:
    """Thread-safe {registry symbol index: (first agg id, last agg id)} still to be written."""

    def __init__(self) -> None:
        self._ranges: dict[int, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def add(self, trades: np.ndarray) -> None:
        """Owe these trades (TRADE_DTYPE rows, any order)."""
        if len(trades) == 0:
            return
        order = np.argsort(trades["sym"], kind="stable")
        sym, agg = trades["sym"][order], trades["agg_id"][order]
        starts = np.flatnonzero(np.r_[True, sym[1:] != sym[:-1]])
        lows = np.minimum.reduceat(agg, starts).tolist()
        highs = np.maximum.reduceat(agg, starts).tolist()
        with self._lock:
            for s, lo, hi in zip(sym[starts].tolist(), lows, highs, strict=True):
                self._merge(s, lo, hi)

    def restore(self, sym: int, first: int, last: int) -> None:
        """Owe a range again (a backfill that could not finish it)."""
        if first <= last:
            with self._lock:
                self._merge(sym, first, last)

    def ranges(self) -> list[tuple[int, int, int]]:
        """Every owed (sym, first, last), by symbol."""
        with self._lock:
            return [(s, lo, hi) for s, (lo, hi) in sorted(self._ranges.items())]

    def take(self) -> list[tuple[int, int, int]]:
        """Every owed (sym, first, last), removed from here: the caller now owns them."""
        with self._lock:
            out, self._ranges = self._ranges, {}
        return [(s, lo, hi) for s, (lo, hi) in sorted(out.items())]

    def ids(self) -> int:
        """Aggregate ids covered (an upper bound on the trades owed)."""
        with self._lock:
            return sum(hi - lo + 1 for lo, hi in self._ranges.values())

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._ranges)

    def _merge(self, sym: int, lo: int, hi: int) -> None:
        old = self._ranges.get(sym)
        self._ranges[sym] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))
