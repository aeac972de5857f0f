"""Reading a contract's past: raw trades from the buffer, older minutes from the store.

A footprint of any range is always made from the original trades at tick resolution: minutes
still in the raw buffer come from its trades, older ones from the store's 1-minute tick
profiles, which hold the same per-tick sums, so the result equals a rebuild from the trades for
any bin and timeframe.
"""

from __future__ import annotations

import os
import time
from decimal import Decimal

import numpy as np

from pipelines.analytics.footprint import (
    Footprint,
    FootprintRules,
    footprint_from_profile_rules,
    footprint_from_records,
)
from pipelines.analytics.profile import MinuteProfile, profile_from_records
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.buffer import TradeBuffer
from pipelines.records.timeunits import MINUTE_MS
from pipelines.storage.store import Store, UnknownSymbolError

_COVERAGE_CACHE_S = 60.0  # sessions ask for the history start often; the store changes slowly


class HistoryReader:
    def __init__(self, registry: SymbolRegistry, buffer: TradeBuffer, db_path: str | None):
        self.registry = registry
        self.buffer = buffer
        self.db_path = db_path
        self._store: Store | None = None
        self._stored_since: dict[str, tuple[int | None, float]] = {}

    @property
    def store(self) -> Store | None:
        """Read access to the store (None without one): history older than the raw buffer."""
        if self._store is None and self.db_path and os.path.exists(self.db_path):
            self._store = Store(self.db_path)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _sym(self, symbol: str) -> int:
        sym = self.registry.index(symbol)
        if sym is None:
            raise KeyError(f"unknown symbol {symbol!r}")
        return sym

    def trades(
        self, symbol: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> np.ndarray:
        """The raw buffer's trades of a symbol in [start_ms, end_ms) (`TRADE_DTYPE`)."""
        return self.buffer.trades(self._sym(symbol), start_ms, end_ms)

    def footprint(
        self, symbol: str, start_ms: int, end_ms: int, rules: FootprintRules
    ) -> Footprint:
        """Footprint of [start_ms, end_ms), from the buffer's trades and the store's minutes."""
        sym = self._sym(symbol)
        spec = self.registry.spec(sym)
        coverage = self.buffer.coverage(sym)
        store = self.store
        if store is None or (coverage is not None and coverage[0] <= start_ms):
            return footprint_from_records(self.buffer.trades(sym, start_ms, end_ms), spec, rules)
        # The buffer's first minute may be cut: take whole minutes from the buffer only.
        cut = end_ms if coverage is None else -(-coverage[0] // MINUTE_MS) * MINUTE_MS
        cut = min(max(cut, start_ms), end_ms)
        try:
            older = store.load_minute_profile(symbol, start_ms, cut)
        except UnknownSymbolError:
            older = MinuteProfile.empty(spec)
        if not same_grid(older.spec, spec):
            older = MinuteProfile.empty(spec)  # the grid changed: only the buffer is comparable
        newer = profile_from_records(self.buffer.trades(sym, cut, end_ms), spec)
        profile = MinuteProfile.concat(
            spec, [MinuteProfile(spec, older.levels, older.minutes), newer]
        )
        return footprint_from_profile_rules(profile, rules)

    def history_start(self, symbol: str) -> int | None:
        """Oldest trade time a footprint of this symbol can reach (buffer or store), or None."""
        sym = self.registry.index(symbol)
        if sym is None:
            return None
        coverage = self.buffer.coverage(sym)
        first = coverage[0] if coverage else None
        if self.store is not None:
            cached = self._stored_since.get(symbol)
            if cached is None or time.monotonic() - cached[1] > _COVERAGE_CACHE_S:
                try:
                    cached = (self.store.coverage(symbol).first_minute_ms, time.monotonic())
                except UnknownSymbolError:
                    cached = (None, time.monotonic())
                self._stored_since[symbol] = cached
            if cached[0] is not None:
                first = cached[0] if first is None else min(first, cached[0])
        return first


def restore_recent(
    db_path: str, registry: SymbolRegistry, buffer: TradeBuffer, window_s: float
) -> tuple[dict[int, int], int]:
    """Each stored symbol's last aggTrade id, and the recent raw trades reloaded into `buffer`.

    Returns ({symbol index: last stored id}, trades reloaded). Older bars come from the store's
    minute profiles, so only the last `window_s` seconds of raw trades are reloaded.
    """
    resume: dict[int, int] = {}
    restored = 0
    if not os.path.exists(db_path):
        return resume, restored
    with Store(db_path) as store:
        since = int(time.time() * 1000 - window_s * 1000)
        for symbol, last_id in store.last_agg_ids().items():
            sym = registry.index(symbol)
            if sym is None:
                continue
            resume[sym] = last_id
            records, spec = store.load_trades(symbol, since, int(time.time() * 1000) + 1)
            if len(records) and same_grid(spec, registry.spec(sym)):
                records["sym"] = sym
                buffer.append(records)
                restored += len(records)
    return resume, restored


def same_grid(a: ContractSpec, b: ContractSpec) -> bool:
    """Whether integer rows on grid `a` mean the same prices and quantities on grid `b`."""
    return Decimal(a.tick_size) == Decimal(b.tick_size) and Decimal(a.step_size) == Decimal(
        b.step_size
    )
