"""REST history on demand: a contract's aggTrades over a time range, exactly once.

The load pages `GET /fapi/v1/aggTrades` *backwards by fromId* from an anchor id: the first
trade the engine already holds (the raw buffer's first, else the live sequence's first), or,
when it holds nothing of the contract, the newest page by time (the exchange's head). Every
page is older than what is held, so:

* the seam is exact by construction: the next id below the first held one is loaded, then
  the one below it, and nothing above the anchor is asked for twice;
* each page goes to the store (the writer settles ids below its checkpoint against the table)
  and, while inside its window, to the front of the raw buffer, so a footprint grows backwards
  while the load runs and the live views never wait for it.

Requests pass a weight `reserve`: a page waits rather than use the part of the minute's
budget kept for gap fills. A load is an asyncio task: cancel it and the pages loaded so far
stay loaded. `LoadProgress` tells trades loaded, the share of the range done and the time left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pipelines.binance import endpoints as ep
from pipelines.binance.parsers import parse_agg_trades_rest
from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.buffer import TradeBuffer
from pipelines.engine.rest import RestClient, RestError
from pipelines.engine.sequencer import UNKNOWN, TradeSequencer
from pipelines.records.batch import EngineBatch
from pipelines.records.timeunits import HOUR_MS

log = logging.getLogger(__name__)

PAGE = ep.AGG_TRADES_MAX_LIMIT
PAGE_WEIGHT = ep.rest_weight(ep.AGG_TRADES_PATH)
_CHUNK_TRADES = 50_000  # pages handed to the store together (one writer item)
_WAIT_POLL_S = 0.25

Sink = Callable[[EngineBatch], None]  # the store writer's submit: never waits


class HistoryError(RuntimeError):
    """A load that cannot be done (unknown symbol, REST refused or unreachable)."""


@dataclass(slots=True)
class LoadProgress:
    symbol: str
    start_ms: int
    end_ms: int | None = None  # None: up to what the engine holds, or the exchange's head
    trades: int = 0  # loaded in the range so far
    top_ms: int | None = None  # where the walk back started (the range's effective end)
    oldest_ms: int | None = None  # the oldest trade time reached (the load walks backwards)
    weight: int = 0  # request weight spent
    requests: int = 0
    done: bool = False
    error: str = ""
    started: float = field(default_factory=time.monotonic)

    @property
    def share(self) -> float:
        """Share of the range covered, 0..1."""
        if self.done:
            return 1.0
        top = self.end_ms if self.top_ms is None else self.top_ms
        if self.oldest_ms is None or top is None or top <= self.start_ms:
            return 0.0
        covered = top - max(self.oldest_ms, self.start_ms)
        return min(max(covered / (top - self.start_ms), 0.0), 1.0)

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace so far (None before there is a pace)."""
        share = self.share
        if self.done:
            return 0.0
        if share <= 0:
            return None
        return (time.monotonic() - self.started) * (1 - share) / share


class HistoryLoader:
    """Loads ranges of history for one engine (or a bare store, for `orderflow backfill`)."""

    def __init__(
        self,
        rest: RestClient,
        registry: SymbolRegistry,
        *,
        sequencer: TradeSequencer | None = None,
        buffer: TradeBuffer | None = None,
        sink: Callable[[], Sink | None] = lambda: None,
        reserve_weight: int = 0,
        wait_while: Callable[[], bool] = lambda: False,
    ) -> None:
        self.rest = rest
        self.registry = registry
        self.sequencer = sequencer
        self.buffer = buffer
        self.sink = sink  # the store's submit, looked up per chunk (it may open later)
        self.reserve_weight = reserve_weight
        # While this holds, pages wait: a minute of every contract's klines (the warm-up, about
        # 1,200 weight) makes every view warm, where the same weight is 60,000 trades of one.
        self.wait_while = wait_while

    async def load(self, progress: LoadProgress) -> LoadProgress:
        """Load every trade with start_ms <= T < end_ms of `progress.symbol`; fills `progress`."""
        try:
            await self._load(progress)
        except RestError as exc:
            progress.error = _rest_message(progress.symbol, exc)
            raise HistoryError(progress.error) from None
        progress.done = True
        return progress

    async def _load(self, p: LoadProgress) -> None:
        sym = self.registry.index(p.symbol)
        if sym is None:
            p.error = f"unknown symbol {p.symbol}"
            raise HistoryError(p.error)
        below = self._anchor(sym, p.end_ms)
        pending: list[np.ndarray] = []
        held = 0
        if below is None:  # nothing held: start from the exchange's head, or the range's end
            head = await self._head(p, sym)
            if len(head) == 0:
                return
            pending.append(head)
            held = len(head)
            below = int(head["agg_id"][0])
            p.oldest_ms = int(head["time"][0])
            p.top_ms = int(head["time"][-1])
        elif self.buffer is not None and (held_span := self.buffer.coverage(sym)):
            p.top_ms = held_span[0]
        while below > 0 and (p.oldest_ms is None or p.oldest_ms >= p.start_ms):
            lo = max(below - PAGE, 0)
            rows = await self._page(p, sym, from_id=lo)
            rows = rows[rows["agg_id"] < below]
            if len(rows) == 0:
                break  # before the contract's first trade
            pending.append(rows)
            held += len(rows)
            below = int(rows["agg_id"][0])
            p.oldest_ms = int(rows["time"][0])
            if held >= _CHUNK_TRADES:
                await self._deliver(p, sym, pending)
                pending, held = [], 0
        await self._deliver(p, sym, pending)

    async def _head(self, p: LoadProgress, sym: int) -> np.ndarray:
        """The newest trades of the range, when the engine holds nothing of the contract."""
        newest = await self._page(p, sym)
        if len(newest) == 0 or p.end_ms is None or int(newest["time"][0]) < p.end_ms:
            if len(newest):
                self._continue_live_after(sym, int(newest["agg_id"][-1]))
            return newest
        # The range ends in the past: by time to an id near its end, then by id up to the end.
        end = p.end_ms - 1
        while end >= p.start_ms:
            start = max(end - HOUR_MS + 1, p.start_ms)  # Binance: a window under an hour
            pages = [await self._page(p, sym, start_ms=start, end_ms=end)]
            while len(pages[-1]) == PAGE and int(pages[-1]["time"][-1]) <= end:
                pages.append(await self._page(p, sym, from_id=int(pages[-1]["agg_id"][-1]) + 1))
            rows = np.concatenate(pages)
            rows = rows[rows["time"] <= end]
            if len(rows):
                return rows
            end = start - 1
        return rows

    def _anchor(self, sym: int, end_ms: int | None) -> int | None:
        """The first id already held for the symbol when the range ends at it (history goes
        below it), or None: the range's end is then found by time."""
        if self.buffer is not None and (held := self.buffer.coverage(sym)) is not None:
            return self.buffer.first_id(sym) if end_ms is None or held[0] <= end_ms else None
        if end_ms is None and self.sequencer is not None and sym < len(self.sequencer.first_id):
            first = int(self.sequencer.first_id[sym])
            if first != UNKNOWN:
                return first
        return None

    def _continue_live_after(self, sym: int, last_id: int) -> None:
        """With no live trade yet, the live sequence continues after the head loaded: its first
        trade then joins without a hole (or shows one, which the gap filler fills)."""
        seq = self.sequencer
        if seq is None:
            return
        seq.ensure_capacity(sym + 1)
        if seq.last_id[sym] == UNKNOWN:
            seq.resume_from({sym: last_id})

    async def _page(
        self,
        p: LoadProgress,
        sym: int,
        *,
        from_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> np.ndarray:
        """One page (no id and no time: the newest trades), in id order."""
        while self.wait_while():
            await asyncio.sleep(_WAIT_POLL_S)
        rows = await self.rest.agg_trades_page(
            p.symbol,
            from_id=from_id,
            start_ms=start_ms,
            end_ms=end_ms,
            reserve=self.reserve_weight,
        )
        p.requests += 1
        p.weight += PAGE_WEIGHT
        trades = parse_agg_trades_rest(rows, sym, self.registry)
        return trades[np.argsort(trades["agg_id"], kind="stable")]

    async def _deliver(self, p: LoadProgress, sym: int, pending: list[np.ndarray]) -> None:
        """Pages (newest first) to the store and the buffer's front, in id order."""
        if not pending:
            return
        rows = np.concatenate(pending[::-1])
        keep = rows["time"] >= p.start_ms
        if p.end_ms is not None:
            keep &= rows["time"] < p.end_ms
        rows = rows[keep]
        if len(rows) == 0:
            return
        p.trades += len(rows)
        sink = self.sink()
        if sink is not None:
            sink(EngineBatch(seq=0, created_ms=int(time.time() * 1000), trades=rows))
        if self.buffer is not None:
            self.buffer.prepend_history(sym, rows)


def _rest_message(symbol: str, exc: RestError) -> str:
    if "-4166" in str(exc):
        return (
            f"{symbol}: REST serves aggTrades by time for the last 2 days only; older history "
            "comes from the archive (orderflow backfill --archive)"
        )
    if exc.status == 0:
        return f"{symbol}: the exchange is unreachable ({exc})"
    return f"{symbol}: REST refused the history ({exc})"
