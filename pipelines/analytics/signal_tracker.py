"""The live form of the signals: every contract's bars closed as trades arrive, signals kept.

`SignalTracker.update(trades, now_ms)` takes each micro-batch. A contract's minute closes when
the contract trades in a later minute, or when the settled exchange clock (`EngineBatch.settled_ms`:
the slowest socket's) is `close_after_ms` past the minute's end (a quiet contract); its trades then go through the same `ContractSignals` the pure
`signals_from_profile` uses, so the live signals are those of the same trades, bar for bar.
Minutes that opened before the tracker's first batch are partial here and are skipped, as are
5m and 15m bars that opened before its first whole minute; a trade of a minute already closed
is counted in `late_trades`, not added.

Signals and bar statistics are kept in sequenced rings: a view asks `since(seq)` for new rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.analytics.footprint import timeframe_ms
from pipelines.analytics.profile import profile_rows
from pipelines.analytics.ring import SequencedRing
from pipelines.analytics.search import matches
from pipelines.analytics.signals import (
    BAR_STATS_DTYPE,
    DIRECTION,
    KINDS,
    SIDES,
    SIGNAL_DTYPE,
    SIGNAL_TIMEFRAMES,
    ContractSignals,
    SignalRules,
    bar_stats_frame,
    signal_frame,
)
from pipelines.analytics.tradeframe import Grid, in_trade_order
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.timeunits import MINUTE_MS

# A quiet contract's minute closes this long after its end by the settled clock (the event time
# every socket has delivered up to): aggTrade pushes come every 100 ms, so a trade stamped
# before the end is in by then whichever socket carries it.
CLOSE_AFTER_MS = 200
# Direction of each (kind, side) index pair, for the net ranking.
_DIRECTION = np.zeros((len(KINDS), len(SIDES)), np.int64)
for (_kind, _side), _sign in DIRECTION.items():
    _DIRECTION[KINDS.index(_kind), SIDES.index(_side)] = _sign

RANKING_COLUMNS = ("symbol", "buy", "sell", "net", "signals", "strength")


@dataclass(frozen=True, slots=True)
class SignalFilter:
    """Which signals a reader wants (a screen's filters): every field narrows the rows.

    `directions` are DIRECTION's values (+1 buyers, -1 sellers, 0 neither); `symbols` is a
    contract search, comma-separated parts of names (`search.matches`); `min_notional` is in
    quote units (USD), `min_strength` the significance layer's floor.
    """

    kinds: tuple[str, ...] = KINDS
    directions: tuple[int, ...] = (1, -1, 0)
    timeframes: tuple[str, ...] = SIGNAL_TIMEFRAMES
    min_notional: float = 0.0
    min_strength: float = 0.0
    symbols: str = ""

    def mask(self, rows: np.ndarray, registry: SymbolRegistry) -> np.ndarray:
        """True for the SIGNAL_DTYPE `rows` this filter keeps."""
        keep = rows["strength"] >= self.min_strength
        if not len(rows):
            return keep
        if set(self.kinds) != set(KINDS):
            keep &= np.isin(rows["kind"], [KINDS.index(k) for k in self.kinds])
        if set(self.directions) != {1, -1, 0}:
            keep &= np.isin(_DIRECTION[rows["kind"], rows["side"]], list(self.directions))
        if set(self.timeframes) != set(SIGNAL_TIMEFRAMES):
            keep &= np.isin(rows["tf_ms"], [timeframe_ms(tf) for tf in self.timeframes])
        if self.min_notional > 0:
            keep &= Grid.of(registry).quote(rows["sym"], rows["notional"]) >= self.min_notional
        if self.symbols.strip():
            names = pd.Series(registry.symbols, dtype=object)
            keep &= matches(names, self.symbols).to_numpy()[rows["sym"]]
        return keep


class SignalTracker:
    def __init__(
        self,
        registry: SymbolRegistry,
        *,
        rules: SignalRules | None = None,
        timeframes: tuple[str, ...] = SIGNAL_TIMEFRAMES,
        close_after_ms: int = CLOSE_AFTER_MS,
        capacity: int = 200_000,
    ) -> None:
        self.registry = registry
        self.rules = rules or SignalRules()
        self.timeframes = timeframes
        self.close_after_ms = close_after_ms
        self.history = SequencedRing(SIGNAL_DTYPE, capacity)
        self.bars = SequencedRing(BAR_STATS_DTYPE, capacity)
        self.late_trades = 0
        self.first_minute: int | None = None  # the first whole minute the tracker sees
        self._contracts: dict[int, ContractSignals] = {}
        self._pending: list[np.ndarray] = []
        self._oldest_pending = np.iinfo(np.int64).max  # minute index
        self._newest = np.full(0, -1, np.int64)  # per sym: newest minute index traded
        self._closed = np.full(0, -1, np.int64)  # per sym: newest minute index closed
        self._bars_closed_to = -1  # minute index up to which coarse bars were closed by clock

    @property
    def last_seq(self) -> int:
        return self.history.last_seq

    def update(self, trades: np.ndarray, now_ms: int) -> int:
        """Take a batch of trades (all contracts) at exchange time `now_ms`; returns signals
        added."""
        if self.first_minute is None:
            self.first_minute = -(-int(now_ms) // MINUTE_MS)
        self._grow()
        if len(trades):
            trades = trades[self.registry.known(trades)]
            minute = trades["time"] // MINUTE_MS
            # A minute closed once the contract traded in a later minute (an earlier batch) or
            # once an earlier batch's clock was close_after_ms past its end, traded or not.
            sym = trades["sym"]
            late = (
                (minute < self.first_minute)
                | (minute <= self._closed[sym])
                | (minute < self._newest[sym])
                | (minute < self._bars_closed_to)
            )
            self.late_trades += int(np.count_nonzero(late & (minute >= self.first_minute)))
            trades, minute = trades[~late], minute[~late]
            if len(trades):
                np.maximum.at(self._newest, trades["sym"], minute)
                self._pending.append(trades)
                self._oldest_pending = min(self._oldest_pending, int(minute.min()))
        clock_minute = (int(now_ms) - self.close_after_ms) // MINUTE_MS  # minutes before it close
        due = self._oldest_pending < clock_minute or (
            len(trades) and self._oldest_pending < int(trades["time"].max()) // MINUTE_MS
        )
        before = self.history.last_seq
        if due:
            self._close_minutes(clock_minute)
        if clock_minute > self._bars_closed_to:  # every bar ends on a minute
            self._bars_closed_to = clock_minute
            self._close_bars(clock_minute * MINUTE_MS)
        return self.history.last_seq - before

    def _grow(self) -> None:
        n = len(self.registry)
        if len(self._newest) < n:
            grow = n - len(self._newest)
            self._newest = np.r_[self._newest, np.full(grow, -1, np.int64)]
            self._closed = np.r_[self._closed, np.full(grow, -1, np.int64)]

    def _close_minutes(self, clock_minute: int) -> None:
        pending = np.concatenate(self._pending)
        minute = pending["time"] // MINUTE_MS
        closing = (minute < self._newest[pending["sym"]]) | (minute < clock_minute)
        rest = pending[~closing]
        self._pending = [rest] if len(rest) else []
        self._oldest_pending = (
            int(rest["time"].min()) // MINUTE_MS if len(rest) else np.iinfo(np.int64).max
        )
        done = pending[closing]
        if not len(done):
            return
        done = in_trade_order(done)  # by contract, then trade order
        syms, starts = np.unique(done["sym"], return_index=True)
        ends = [*starts[1:].tolist(), len(done)]
        signals, stats = [], []
        for sym, a, b in zip(syms.tolist(), starts.tolist(), ends, strict=True):
            part = done[a:b]
            levels, minutes = profile_rows(part)
            s, b_ = self._contract(sym).add_minutes(levels, minutes)
            signals += s
            stats += b_
            self._closed[sym] = max(self._closed[sym], int(minutes["time"][-1]) // MINUTE_MS)
        self._keep(signals, stats)

    def _close_bars(self, time_ms: int) -> None:
        signals, stats = [], []
        for state in self._contracts.values():
            s, b = state.close_before(time_ms)
            signals += s
            stats += b
        self._keep(signals, stats)

    def _contract(self, sym: int) -> ContractSignals:
        state = self._contracts.get(sym)
        if state is None:
            state = self._contracts[sym] = ContractSignals(
                sym, self.rules, self.timeframes, first_ms=self.first_minute * MINUTE_MS
            )
        return state

    def _keep(self, signals: list[np.ndarray], stats: list[np.void]) -> None:
        if signals:
            rows = np.concatenate(signals)
            if len(rows):
                self.history.append(rows[np.lexsort((rows["sym"], rows["bar_time"]))])
        if stats:
            self.bars.append(np.array(stats, BAR_STATS_DTYPE))

    # ------------------------------------------------------------------ reading

    def since(self, seq: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Signal rows after sequence number `seq`, oldest first, and their sequence numbers."""
        return self.history.since(seq)

    def frame(self, seq: int = 0) -> pd.DataFrame:
        """The signals after `seq` in the output schema, with their `seq`."""
        rows, seqs = self.since(seq)
        out = signal_frame(rows, self.registry)
        out.insert(0, "seq", seqs)
        return out

    def select(
        self, seq: int = 0, where: SignalFilter | None = None, last: int | None = None
    ) -> pd.DataFrame:
        """`frame(seq)` narrowed to the signals `where` keeps (all of them when None), the
        newest `last` of them when given."""
        rows, seqs = self.since(seq)
        if where is not None:
            keep = where.mask(rows, self.registry)
            rows, seqs = rows[keep], seqs[keep]
        if last is not None and len(rows) > last:
            rows, seqs = rows[len(rows) - last :], seqs[len(seqs) - last :]
        out = signal_frame(rows, self.registry)
        out.insert(0, "seq", seqs)
        return out

    def signal(self, seq: int) -> pd.Series | None:
        """The signal numbered `seq` in the output schema (None once the history dropped it)."""
        row = self.history.at(seq)
        return None if row is None else signal_frame(row, self.registry).iloc[0]

    def first_close_ms(self) -> int | None:
        """When the first whole 1-minute bar closes by the clock (None before any batch): no
        signal can come earlier."""
        if self.first_minute is None:
            return None
        return (self.first_minute + 1) * MINUTE_MS + self.close_after_ms

    def restore(self, rows: np.ndarray) -> int:
        """Stored signals (SIGNAL_DTYPE, oldest first) back into the history after a restart."""
        rows = rows[self.registry.known(rows)]
        self.history.append(rows)
        return len(rows)

    def latest_bars(self, timeframe: str = "1m") -> pd.DataFrame:
        """Each contract's newest closed bar of `timeframe`: the screen columns."""
        rows, _ = self.bars.since(0)
        rows = rows[rows["tf_ms"] == timeframe_ms(timeframe)]
        if len(rows):
            # The newest per contract: the last occurrence of each sym.
            _, last = np.unique(rows["sym"][::-1], return_index=True)
            rows = rows[len(rows) - 1 - last]
        return bar_stats_frame(rows, self.registry)

    def ranking(
        self,
        now_ms: int,
        minutes: int,
        min_strength: float = 0.0,
        where: SignalFilter | None = None,
    ) -> pd.DataFrame:
        """Contracts by net buy - sell signals of the bars opened in the last `minutes`
        (only the signals `where` keeps, when given)."""
        rows, _ = self.since(0)
        rows = rows[(rows["bar_time"] >= now_ms - minutes * MINUTE_MS)
                    & (rows["strength"] >= min_strength)]  # fmt: skip
        if where is not None:
            rows = rows[where.mask(rows, self.registry)]
        if not len(rows):
            return pd.DataFrame({c: [] for c in RANKING_COLUMNS})
        sign = _DIRECTION[rows["kind"], rows["side"]]
        n = len(self.registry)
        buy = np.bincount(rows["sym"], sign > 0, n)
        sell = np.bincount(rows["sym"], sign < 0, n)
        count = np.bincount(rows["sym"], minlength=n)
        strength = np.bincount(rows["sym"], rows["strength"] * sign, n)
        has = np.flatnonzero(count)
        out = pd.DataFrame(
            {
                "symbol": np.array(self.registry.symbols, dtype=object)[has],
                "buy": buy[has].astype(np.int64),
                "sell": sell[has].astype(np.int64),
                "net": (buy[has] - sell[has]).astype(np.int64),
                "signals": count[has],
                "strength": strength[has],
            }
        )
        return out.sort_values(["net", "strength"], ascending=False, ignore_index=True)
