"""Trades the writer owes the store but no longer holds: one aggTrade id range per symbol.

When the rows waiting for the store pass the writer's memory bound, a batch's trades are not
kept; their ids are recorded here instead and the engine backfills them from REST
(`aggTrades?fromId=`) once the store writes again. One range per symbol (the smallest that
covers everything owed) keeps this bounded by the number of contracts: ids inside it that were
stored meanwhile come back as duplicates, which the writer ignores.

What is still owed when the writer stops outlives the process in a small JSON file beside the
database (`owed_file`), by symbol name (registry indices differ between runs); the next writer
on that store owes it again, so the engine backfills it then. The file is rewritten at every
close (removed when nothing is owed), so a crash before the backfill only repeats it.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

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


def owed_file(db: str | os.PathLike[str]) -> Path:
    """Where the ranges a store is owed are kept between runs: beside the database file."""
    return Path(f"{os.fspath(db)}.owed.json")


def save_owed(path: Path, ranges: dict[str, tuple[int, int]]) -> None:
    """Replace the file with `ranges` (symbol -> first, last id), atomically; none: remove it.

    Raises OSError when it cannot be written (a full disk among the causes).
    """
    if not ranges:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps({s: [lo, hi] for s, (lo, hi) in sorted(ranges.items())}))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def load_owed(path: Path) -> dict[str, tuple[int, int]]:
    """The ranges a previous run left owed ({} without a file); ValueError for a bad one."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
        out = {str(s): (int(r[0]), int(r[1])) for s, r in data.items()}
    except (ValueError, TypeError, AttributeError, IndexError, KeyError):
        raise ValueError(f"{path}: not a file of owed ranges") from None
    return {s: r for s, r in out.items() if r[0] <= r[1]}
