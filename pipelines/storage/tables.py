"""The trade table and the liquidation rows, written inside the writer's transaction.

`TradeTable.write` keeps the store exactly once: trades are de-duplicated on (symbol, aggTrade
id) against the batch itself, the in-memory checkpoint (the last stored id per symbol) and,
below it, the table; only the new ones reach the minute profiles and bars, whose upserts add.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator

import numpy as np

from pipelines.binance.registry import SymbolRegistry
from pipelines.records.timeunits import MINUTE_MS
from pipelines.storage.minutes import UPSERT_BAR, UPSERT_PROFILE, minute_rows
from pipelines.storage.symbols import SymbolMap

log = logging.getLogger(__name__)

_INSERT_TRADES = (
    "INSERT OR IGNORE INTO trade_rows (sym_id, agg_trade_id, price_ticks, qty_steps, "
    "transact_time, is_buyer_maker, first_trade_id, last_trade_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_CHECKPOINT = (
    "UPDATE symbols SET last_agg_id = max(coalesce(last_agg_id, -1), ?), "
    "last_trade_time = max(coalesce(last_trade_time, 0), ?) WHERE id = ?"
)
_INSERT_LIQUIDATIONS = (
    "INSERT OR IGNORE INTO liquidations (symbol, timestamp, side, price, quantity, is_forced, "
    "notional, event_time) VALUES (?, ?, ?, ?, ?, 1, ?, ?)"
)


class TradeTable:
    def __init__(
        self,
        conn: sqlite3.Connection,
        symbols: SymbolMap,
        clock: Callable[[], int],
        raw_window_ms: int,
    ) -> None:
        self.conn = conn
        self.symbols = symbols
        self.clock = clock
        self.raw_window_ms = raw_window_ms  # older absent trades may have been pruned
        self._last_agg = self._load_checkpoints()

    def write(self, trades: np.ndarray) -> tuple[tuple[np.ndarray, ...], int, int, int]:
        """Insert the trades not stored yet and add them to the minute rows.

        Returns ((sym_id, agg_id, time) of the new trades, rows written, duplicates, stale).
        """
        empty = np.zeros(0, np.int64)
        if len(trades) == 0:
            return (empty, empty, empty), 0, 0, 0
        sym = trades["sym"]
        sid = self.symbols.ids[sym]
        agg = trades["agg_id"]
        order = np.lexsort((agg, sid))
        sid, agg = sid[order], agg[order]
        keep = np.ones(len(order), dtype=bool)
        keep[1:] = (sid[1:] != sid[:-1]) | (agg[1:] != agg[:-1])
        if not keep.all():
            order, sid, agg = order[keep], sid[keep], agg[keep]
        t = trades[order]
        sym = t["sym"]
        new = agg > self._checkpoint(sid)
        stale = 0
        if not new.all():
            new, stale = self._not_stored(sid, agg, t["time"], new)
        dups = len(trades) - int(new.sum()) - stale
        t, sid, agg = t[new], sid[new], agg[new]
        if len(t) == 0:
            return (empty, empty, empty), 0, dups, stale
        # The store keeps each symbol on its own first grid (SymbolMap): rescale to it.
        t["price"] *= self.symbols.price_factor[sym[new]]
        t["qty"] *= self.symbols.qty_factor[sym[new]]
        price, qty, time_ms, bm = t["price"], t["qty"], t["time"], t["buyer_maker"]
        conn = self.conn
        conn.executemany(
            _INSERT_TRADES,
            params(sid, agg, price, qty, time_ms, bm.astype(np.int64), t["first_id"], t["last_id"]),
        )
        profiles, bars = minute_rows(sid, t)
        conn.executemany(UPSERT_PROFILE, params(*profiles.T))
        conn.executemany(UPSERT_BAR, params(*bars.T))
        # Per symbol: the rows are sorted by (sid, agg), so the last of each run is its maximum.
        last = np.flatnonzero(np.append(sid[1:] != sid[:-1], True))
        conn.executemany(_UPDATE_CHECKPOINT, params(agg[last], time_ms[last], sid[last]))
        written = len(t) + len(profiles) + len(bars)
        return (sid, agg, time_ms), written, dups, stale

    def _not_stored(
        self, sid: np.ndarray, agg: np.ndarray, time_ms: np.ndarray, new: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """Settle trades at or below the checkpoint against the table (holes being filled,
        history loaded backwards from the live sequence, imported archives)."""
        new = new.copy()
        old = np.flatnonzero(~new)
        cutoff = self.clock() - self.raw_window_ms if self.raw_window_ms else None
        stale = 0
        for s in np.unique(sid[old]).tolist():
            idx = old[sid[old] == s]
            lo, hi = int(agg[idx].min()), int(agg[idx].max())
            stored = np.fromiter(
                (
                    r[0]
                    for r in self.conn.execute(
                        "SELECT agg_trade_id FROM trade_rows "
                        "WHERE sym_id = ? AND agg_trade_id BETWEEN ? AND ?",
                        (s, lo, hi),
                    )
                ),
                dtype=np.int64,
            )
            absent = idx[~np.isin(agg[idx], stored)]
            # Absent may still mean counted: stored, then pruned, its volume kept in the minute
            # rows. Its minute's bar tells (see `_counted`); when it cannot, a trade inside the
            # raw window is a hole being filled (new), an older one is dropped as stale.
            counted, unsure = self._counted(s, agg[absent], time_ms[absent])
            if cutoff is not None:
                too_old = unsure & (time_ms[absent] < cutoff)
                stale += int(too_old.sum())
                counted |= too_old
            new[absent[~counted]] = True
        if stale:
            log.warning(
                "store writer dropped %d trades below the checkpoint outside the raw window "
                "(their minutes have holes: cannot tell whether they were counted)",
                stale,
            )
        return new, stale

    def _counted(
        self, s: int, agg: np.ndarray, time_ms: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(counted, unsure) masks for trades absent from the table.

        A minute's bar holds the lowest and highest id it counted and how many: an id outside
        that range (or a minute without a bar) was never counted; inside a bar that counted
        every id of its range it was; inside a bar with holes nobody can tell.
        """
        counted = np.zeros(len(agg), bool)
        unsure = np.zeros(len(agg), bool)
        if len(agg) == 0:
            return counted, unsure
        minute = time_ms // MINUTE_MS * MINUTE_MS
        rows = self.conn.execute(
            "SELECT minute, first_agg_id, last_agg_id, trades FROM minute_bar_rows "
            "WHERE sym_id = ? AND minute BETWEEN ? AND ? ORDER BY minute",
            (s, int(minute.min()), int(minute.max())),
        ).fetchall()
        if not rows:
            return counted, unsure
        bars = np.array(rows, dtype=np.int64)
        at = np.searchsorted(bars[:, 0], minute)
        found = at < len(bars)
        found[found] = bars[at[found], 0] == minute[found]
        b = bars[np.minimum(at, len(bars) - 1)]
        inside = found & (agg >= b[:, 1]) & (agg <= b[:, 2])
        whole = b[:, 3] == b[:, 2] - b[:, 1] + 1
        return inside & whole, inside & ~whole

    def _checkpoint(self, sid: np.ndarray) -> np.ndarray:
        top = int(sid.max()) + 1
        if top > len(self._last_agg):
            self._last_agg = np.concatenate(
                [self._last_agg, np.full(top - len(self._last_agg), -1, np.int64)]
            )
        return self._last_agg[sid]

    def advance(self, fresh: tuple[np.ndarray, ...]) -> None:
        sid, agg, _ = fresh
        if len(sid):
            self._checkpoint(sid)
            np.maximum.at(self._last_agg, sid, agg)

    def _load_checkpoints(self) -> np.ndarray:
        rows = self.conn.execute("SELECT id, last_agg_id FROM symbols").fetchall()
        top = max((r[0] for r in rows), default=0) + 1
        out = np.full(top, -1, dtype=np.int64)
        for sid, last in rows:
            if last is not None:
                out[sid] = last
        return out


def write_liquidations(conn: sqlite3.Connection, registry: SymbolRegistry, liqs: np.ndarray) -> int:
    if len(liqs) == 0:
        return 0
    names = np.array(registry.symbols, dtype=object)[liqs["sym"]]
    side = np.where(liqs["long_liquidated"], "SELL", "BUY").astype(object)
    rows = params(
        names,
        liqs["time"],
        side,
        liqs["price"],
        liqs["qty"],
        liqs["notional"],
        liqs["event_time"],
    )
    conn.executemany(_INSERT_LIQUIDATIONS, rows)
    return len(liqs)


def params(*columns: np.ndarray) -> Iterator[tuple]:
    """Rows for executemany, made column by column (several times faster than a 2-D tolist)."""
    return zip(*(np.asarray(c).tolist() for c in columns), strict=True)
