"""Exactly-once, in-order trades per symbol, by aggregate trade id.

aggTrade ids are consecutive per symbol. Every batch is checked against the last id released for
each symbol: repeats are dropped, and a hole (a lost frame, a reconnect, a stall) holds the
symbol's later trades back until the hole is filled from REST (`fill`) or declared unfillable
(`abandon`). Released trades therefore form, per symbol, a sequence with no repeats and, unless a
gap was abandoned and reported, no holes. The common case (no hole) is fully vectorised.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from pipelines.records.dtypes import TRADE_DTYPE

UNKNOWN = -1  # no trade seen yet for the symbol: the first one starts its sequence


@dataclass(slots=True)
class Gap:
    sym: int
    from_id: int  # first missing id
    to_id: int  # last missing id
    found_at: float  # monotonic time


@dataclass(slots=True)
class SequencerStats:
    released: int = 0
    duplicates: int = 0
    gaps_found: int = 0
    gaps_filled: int = 0
    gaps_abandoned: int = 0
    trades_missing: int = 0  # ids given up in abandoned gaps


class TradeSequencer:
    def __init__(self, capacity: int = 0) -> None:
        self.last_id = np.full(capacity, UNKNOWN, dtype=np.int64)
        # Where each symbol's sequence began: history loads stop just below it (the seam).
        self.first_id = np.full(capacity, UNKNOWN, dtype=np.int64)
        self._pending: dict[int, np.ndarray] = {}
        self.gaps: dict[int, Gap] = {}
        self.stats = SequencerStats()

    def ensure_capacity(self, n_symbols: int) -> None:
        if n_symbols > len(self.last_id):
            grown = np.full(n_symbols, UNKNOWN, dtype=np.int64)
            grown[: len(self.last_id)] = self.last_id
            self.last_id = grown
            first = np.full(n_symbols, UNKNOWN, dtype=np.int64)
            first[: len(self.first_id)] = self.first_id
            self.first_id = first

    def resume_from(self, last_ids: dict[int, int]) -> None:
        """Continue after stored trades: the next accepted id per symbol is last + 1."""
        if last_ids:
            self.ensure_capacity(max(last_ids) + 1)
        for sym, last in last_ids.items():
            self.last_id[sym] = last
            self.first_id[sym] = last + 1

    @property
    def pending_trades(self) -> int:
        return sum(len(p) for p in self._pending.values())

    def missing(self) -> list[Gap]:
        return list(self.gaps.values())

    # ------------------------------------------------------------------ intake

    def push(self, trades: np.ndarray) -> np.ndarray:
        """Accept a batch (any order, repeats allowed); return what can be released now."""
        if len(trades) == 0:
            return trades[:0]
        self.ensure_capacity(int(trades["sym"].max()) + 1)
        out = self._push(trades)
        if len(out):
            self._note_first(out)
        return out

    def _note_first(self, released: np.ndarray) -> None:
        """Record the first released id of symbols whose sequence starts in this release."""
        starting = self.first_id[released["sym"]] == UNKNOWN
        if starting.any():
            rows = released[starting]
            self.first_id[np.unique(rows["sym"])] = np.iinfo(np.int64).max
            np.minimum.at(self.first_id, rows["sym"], rows["agg_id"])

    def _push(self, trades: np.ndarray) -> np.ndarray:
        t = trades[np.lexsort((trades["agg_id"], trades["sym"]))]
        sym, ids = t["sym"], t["agg_id"]
        fresh = np.ones(len(t), dtype=bool)
        fresh[1:] = (sym[1:] != sym[:-1]) | (ids[1:] != ids[:-1])
        fresh &= ids > self.last_id[sym]
        self.stats.duplicates += int(len(t) - fresh.sum())
        t = t[fresh]
        if len(t) == 0:
            return t
        sym, ids = t["sym"], t["agg_id"]

        starts = np.ones(len(t), dtype=bool)
        starts[1:] = sym[1:] != sym[:-1]
        last = self.last_id[sym]
        prev = np.where(starts, last, np.concatenate(([0], ids[:-1])))
        ok = (ids == prev + 1) | (starts & (last == UNKNOWN))
        group_start = np.flatnonzero(starts)
        group_bad = np.add.reduceat((~ok).astype(np.int64), group_start) > 0
        if self._pending:
            group_bad |= np.isin(sym[group_start], list(self._pending))

        row_bad = np.repeat(group_bad, np.diff(np.append(group_start, len(t))))
        fast = t[~row_bad]
        if len(fast):
            ends = np.flatnonzero(np.append(fast["sym"][1:] != fast["sym"][:-1], True))
            self.last_id[fast["sym"][ends]] = fast["agg_id"][ends]
        released = [fast]
        for s in np.unique(sym[row_bad]):
            released.append(self._merge(int(s), t[row_bad & (sym == s)]))
        out = np.concatenate(released) if len(released) > 1 else fast
        self.stats.released += len(out)
        return out

    def fill(self, trades: np.ndarray) -> np.ndarray:
        """Backfilled rows (from REST) for open gaps; returns what they release."""
        return self.push(trades)

    def abandon(self, sym: int) -> np.ndarray:
        """Give up on a symbol's open gap (REST cannot serve it): release what waits behind it."""
        gap = self.gaps.pop(sym, None)
        if gap is None or sym not in self._pending:
            return np.zeros(0, dtype=TRADE_DTYPE)
        self.stats.gaps_abandoned += 1
        self.stats.trades_missing += gap.to_id - gap.from_id + 1
        self.last_id[sym] = self._pending[sym]["agg_id"][0] - 1
        released = self._merge(sym, np.zeros(0, dtype=TRADE_DTYPE))
        self.stats.released += len(released)
        return released

    # ------------------------------------------------------------------ slow path

    def _merge(self, sym: int, rows: np.ndarray) -> np.ndarray:
        """Merge rows into the symbol's held trades and release the contiguous prefix."""
        held = self._pending.pop(sym, None)
        if held is not None:
            rows = np.concatenate((held, rows))
            rows = rows[np.argsort(rows["agg_id"], kind="stable")]
            keep = np.ones(len(rows), dtype=bool)
            keep[1:] = rows["agg_id"][1:] != rows["agg_id"][:-1]
            rows = rows[keep]
        last = int(self.last_id[sym])
        if last == UNKNOWN:
            last = int(rows["agg_id"][0]) - 1
        expected = last + 1 + np.arange(len(rows))
        run = (
            len(rows)
            if np.array_equal(rows["agg_id"], expected)
            else int(np.argmin(rows["agg_id"] == expected))
        )
        released, rest = rows[:run], rows[run:]
        if run:
            last = int(released["agg_id"][-1])
        self.last_id[sym] = last
        gap = self.gaps.get(sym)
        if gap is not None and last >= gap.to_id:  # the hole is bridged
            del self.gaps[sym]
            self.stats.gaps_filled += 1
            gap = None
        if len(rest):
            self._pending[sym] = rest
            hole_from, hole_to = last + 1, int(rest["agg_id"][0]) - 1
            if gap is None:
                self.stats.gaps_found += 1
                self.gaps[sym] = Gap(sym, hole_from, hole_to, time.monotonic())
            else:  # the same hole, narrowed by a partial fill
                gap.from_id, gap.to_id = hole_from, hole_to
        return released
