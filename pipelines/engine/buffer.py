"""The raw trade buffer: per symbol, append-only columnar trades, the "original" of every view.

Every re-aggregation (a new footprint bin or timeframe) reads from here, never from a previous
aggregation. Memory is bounded by a retention window and a byte budget; older trades are
trimmed from the front (the store keeps them).
"""

from __future__ import annotations

import numpy as np

from pipelines.records.dtypes import TRADE_DTYPE
from pipelines.records.search import sorted_position


class _SymbolTrades:
    __slots__ = ("data", "end", "start")

    def __init__(self, capacity: int) -> None:
        self.data = np.zeros(capacity, dtype=TRADE_DTYPE)
        self.start = 0
        self.end = 0

    def __len__(self) -> int:
        return self.end - self.start

    def append(self, rows: np.ndarray) -> None:
        n = len(rows)
        if self.end + n > len(self.data):
            live = self.view()
            need = len(live) + n
            # Compact in place while half is free, otherwise double: appends stay amortised O(1).
            capacity = len(self.data) if need <= len(self.data) // 2 else 2 * need
            fresh = np.zeros(capacity, dtype=TRADE_DTYPE)
            fresh[: len(live)] = live
            self.data, self.start, self.end = fresh, 0, len(live)
        self.data[self.end : self.end + n] = rows
        self.end += n

    def prepend(self, rows: np.ndarray) -> None:
        n = len(rows)
        if n > self.start:  # no room in front: copy once, the free space split front and back
            live = self.view()
            capacity = max(len(self.data), 2 * (len(live) + n))
            lead = n + (capacity - len(live) - n) // 2
            fresh = np.zeros(capacity, dtype=TRADE_DTYPE)
            fresh[lead : lead + len(live)] = live
            self.data, self.start, self.end = fresh, lead, lead + len(live)
        self.data[self.start - n : self.start] = rows
        self.start -= n

    def view(self) -> np.ndarray:
        return self.data[self.start : self.end]

    def trim_before(self, time_ms: int) -> int:
        view = self.view()
        cut = sorted_position(view["time"], time_ms)
        self.start += cut
        if self.start == self.end:
            self.start = self.end = 0
        return cut


class TradeBuffer:
    def __init__(
        self,
        *,
        retention_ms: int = 4 * 3600_000,
        budget_bytes: int = 256 * 2**20,
        initial_capacity: int = 256,
    ) -> None:
        self.retention_ms = retention_ms
        self.budget_bytes = budget_bytes
        self._initial = initial_capacity
        self._symbols: dict[int, _SymbolTrades] = {}
        self.trimmed = 0
        self.newest_ms = 0
        # Kept as appends and trims go: summing 600 contracts' arrays per batch (and per status
        # read) cost more than the appends themselves.
        self._bytes = 0
        self._rows = 0
        self._oldest_ms = 2**62  # no trade held is older (a bound, exact after each trim pass)

    def __len__(self) -> int:
        return self._rows

    @property
    def memory_bytes(self) -> int:
        return self._bytes

    def _store(self, sym: int, rows: int) -> _SymbolTrades:
        store = self._symbols.get(sym)
        if store is None:
            store = self._symbols[sym] = _SymbolTrades(max(self._initial, 2 * rows))
            self._bytes += store.data.nbytes
        return store

    def append(self, trades: np.ndarray) -> None:
        """Append an exactly-once batch (per symbol in id order, as the sequencer releases it)."""
        if len(trades) == 0:
            return
        order = np.argsort(trades["sym"], kind="stable")
        rows = trades[order]
        cuts = np.flatnonzero(np.diff(rows["sym"])) + 1
        for part in np.split(rows, cuts):
            store = self._store(int(part["sym"][0]), len(part))
            before = store.data.nbytes
            store.append(part)
            self._bytes += store.data.nbytes - before
        self._rows += len(trades)
        times = trades["time"]
        self.newest_ms = max(self.newest_ms, int(times.max()))
        self._oldest_ms = min(self._oldest_ms, int(times.min()))
        self._enforce_bounds()

    def prepend_history(self, sym: int, rows: np.ndarray) -> int:
        """Put older trades of one symbol (id order) before those held; returns how many.

        Only trades older than the first one held and inside the retention window are kept:
        the store holds the rest, and the buffer stays in time and id order.
        """
        store = self._symbols.get(sym)
        if store is not None and len(store):
            rows = rows[rows["agg_id"] < store.data["agg_id"][store.start]]
        newest = max(self.newest_ms, int(rows["time"].max(initial=0)))
        rows = rows[rows["time"] >= newest - self.retention_ms]
        if len(rows) == 0:
            return 0
        store = self._store(sym, len(rows))
        before = store.data.nbytes
        store.prepend(rows)
        self._bytes += store.data.nbytes - before
        self._rows += len(rows)
        self.newest_ms = max(self.newest_ms, int(rows["time"].max()))
        self._oldest_ms = min(self._oldest_ms, int(rows["time"].min()))
        self._enforce_bounds()
        return len(rows)

    def _enforce_bounds(self) -> None:
        horizon = self.newest_ms - self.retention_ms
        over_budget = self._bytes > self.budget_bytes
        if horizon <= self._oldest_ms and not over_budget:
            return  # nothing held is old enough to go: no pass over every contract
        if over_budget:
            # Over budget: give up the oldest quarter of the time still held, across symbols.
            oldest = min(
                (int(s.view()["time"][0]) for s in self._symbols.values() if len(s)),
                default=horizon,
            )
            horizon = max(horizon, oldest + (self.newest_ms - oldest) // 4)
        oldest = 2**62
        for store in self._symbols.values():
            if len(store) and store.data["time"][store.start] < horizon:
                cut = store.trim_before(horizon)
                self.trimmed += cut
                self._rows -= cut
            if len(store):
                oldest = min(oldest, int(store.data["time"][store.start]))
        self._oldest_ms = oldest

    def trades(
        self, sym: int, start_ms: int | None = None, end_ms: int | None = None
    ) -> np.ndarray:
        """A copy of one symbol's trades with start_ms <= time < end_ms."""
        store = self._symbols.get(sym)
        if store is None:
            return np.zeros(0, dtype=TRADE_DTYPE)
        view = store.view()
        lo = 0 if start_ms is None else sorted_position(view["time"], start_ms)
        hi = len(view) if end_ms is None else sorted_position(view["time"], end_ms)
        return view[lo:hi].copy()

    def coverage(self, sym: int) -> tuple[int, int] | None:
        store = self._symbols.get(sym)
        if store is None or not len(store):
            return None
        view = store.view()
        return int(view["time"][0]), int(view["time"][-1])

    def first_id(self, sym: int) -> int | None:
        """Aggregate id of the oldest trade held for the symbol, or None."""
        store = self._symbols.get(sym)
        return int(store.data["agg_id"][store.start]) if store is not None and len(store) else None

    def symbols(self) -> list[int]:
        return [s for s, store in self._symbols.items() if len(store)]
