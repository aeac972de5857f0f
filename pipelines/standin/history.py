"""Every aggTrade the stand-in has generated, per symbol, columnar, with a retention cap.

REST `aggTrades` answers from here, so a client that backfills a gap gets exactly the trades the
streams carried. Steps are buffered and appended per symbol in batches (one copy per symbol
and flush instead of one per step); queries flush first, so they always see the newest
trades. Aggregate ids are consecutive per symbol, so an id maps to a row by subtraction.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from pipelines.records.dtypes import TRADE_DTYPE
from pipelines.records.search import sorted_position

# Stored per trade: TRADE_DTYPE minus sym/event_time (implicit), plus `nq`.
STORED_DTYPE = np.dtype(
    [
        ("agg_id", "i8"),
        ("first_id", "i8"),
        ("last_id", "i8"),
        ("time", "i8"),
        ("price", "i8"),
        ("qty", "i8"),
        ("nq", "i8"),
        ("buyer_maker", "?"),
    ]
)


_FLUSH_ROWS = 20_000


class _SymbolStore:
    """A growable array with a moving start (rows before `start` are evicted)."""

    __slots__ = ("data", "end", "start")

    def __init__(self) -> None:
        self.data = np.zeros(0, dtype=STORED_DTYPE)
        self.start = 0
        self.end = 0

    def append(self, rows: np.ndarray) -> None:
        n = len(rows)
        if self.end + n > len(self.data):
            live = self.end - self.start
            capacity = max(1024, 2 * (live + n))
            grown = np.zeros(capacity, dtype=STORED_DTYPE)
            grown[:live] = self.data[self.start : self.end]
            self.data, self.start, self.end = grown, 0, live
        self.data[self.end : self.end + n] = rows
        self.end += n

    @property
    def live(self) -> np.ndarray:
        return self.data[self.start : self.end]

    def evict_before(self, time_ms: int) -> int:
        cut = sorted_position(self.live["time"], time_ms)
        self.start += cut
        if self.start == self.end:
            self.data, self.start, self.end = np.zeros(0, dtype=STORED_DTYPE), 0, 0
        return cut


class TradeHistory:
    """Per-symbol trade store bounded by age (`retention_s`) and total size (`max_trades`)."""

    def __init__(
        self, n_symbols: int, *, retention_s: float = 7200.0, max_trades: int = 10_000_000
    ) -> None:
        if retention_s <= 0 or max_trades <= 0:
            raise ValueError("retention_s and max_trades must be positive")
        self.retention_ms = int(retention_s * 1000)
        self.max_trades = int(max_trades)
        self._stores = [_SymbolStore() for _ in range(n_symbols)]
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_rows = 0
        self._count = 0
        # (second, trades generated in it): finds the cut-off time that honours max_trades.
        self._per_second: deque[list[int]] = deque()

    def __len__(self) -> int:
        self.flush()
        return self._count

    def add_symbol(self) -> None:
        self._stores.append(_SymbolStore())

    def append(self, trades: np.ndarray, nq: np.ndarray) -> None:
        """A step's trades (`TRADE_DTYPE`, sorted by symbol then id)."""
        if len(trades) == 0:
            return
        self._pending.append((trades, nq))
        second = int(trades["time"][-1]) // 1000
        if self._per_second and self._per_second[-1][0] == second:
            self._per_second[-1][1] += len(trades)
        else:
            self._per_second.append([second, len(trades)])
        self._pending_rows += len(trades)
        if self._pending_rows >= _FLUSH_ROWS:  # bounded work per flush keeps the loop smooth
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        trades = np.concatenate([t for t, _ in self._pending])
        nq = np.concatenate([q for _, q in self._pending])
        self._pending.clear()
        self._pending_rows = 0
        order = np.argsort(trades["sym"], kind="stable")
        trades, nq = trades[order], nq[order]
        rows = np.empty(len(trades), dtype=STORED_DTYPE)
        for name in STORED_DTYPE.names:
            rows[name] = nq if name == "nq" else trades[name]
        syms, starts = np.unique(trades["sym"], return_index=True)
        ends = np.append(starts[1:], len(trades))
        for sym, lo, hi in zip(syms.tolist(), starts.tolist(), ends.tolist(), strict=True):
            self._stores[sym].append(rows[lo:hi])
        self._count += len(rows)

    def evict(self, now_ms: int) -> None:
        """Drop trades older than the retention age, then the oldest beyond `max_trades`."""
        self.flush()
        cutoff = now_ms - self.retention_ms
        total = sum(n for _, n in self._per_second)
        while self._per_second and (
            self._per_second[0][0] * 1000 + 1000 <= cutoff or total > self.max_trades
        ):
            total -= self._per_second.popleft()[1]
        if self._per_second:
            cutoff = max(cutoff, self._per_second[0][0] * 1000)
        for store in self._stores:
            self._count -= store.evict_before(cutoff)

    def symbol_trades(self, sym: int) -> np.ndarray:
        """All retained trades of one contract (`STORED_DTYPE`), oldest first."""
        self.flush()
        return self._stores[sym].live

    def query(
        self,
        sym: int,
        *,
        from_id: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = 500,
    ) -> np.ndarray:
        """The REST aggTrades selection: by id, by time window, or the most recent `limit`."""
        live = self.symbol_trades(sym)
        if len(live) == 0:
            return live
        if from_id is not None:
            lo = int(np.clip(from_id - live["agg_id"][0], 0, len(live)))
            return live[lo : lo + limit]
        if start_time is None and end_time is None:
            return live[-limit:]
        times = live["time"]
        lo = 0 if start_time is None else sorted_position(times, start_time)
        hi = len(live) if end_time is None else sorted_position(times, end_time, "right")
        if start_time is None:  # only endTime: the last `limit` trades up to it
            return live[max(lo, hi - limit) : hi]
        return live[lo : min(hi, lo + limit)]


def to_trade_records(rows: np.ndarray, sym: int) -> np.ndarray:
    """Stored rows of one contract as `TRADE_DTYPE` (event_time 0, as after a REST backfill)."""
    out = np.zeros(len(rows), dtype=TRADE_DTYPE)
    out["sym"] = sym
    for name in ("agg_id", "first_id", "last_id", "time", "price", "qty", "buyer_maker"):
        out[name] = rows[name]
    return out
