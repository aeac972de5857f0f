"""Minute history of every watched contract at start: 1m klines into the imbalance tracker.

Without it the heatmap, the rankings' longer windows and the breadth baseline hold only the
minutes since start. A 1m kline carries the minute's quote and taker-buy quote volume, so each
contract's last `hours` of per-minute flow cost one request (weight 2 for up to 499 rows, 5 up
to 1,000): about 1,200 weight for 600 contracts at 8 h, half a minute of the budget. Requests
keep `reserve_weight` of the minute's budget free for gap fills, which take priority. Contracts
listed later are warmed when they appear. Minutes the engine saw itself (or restored from the
store) are never replaced (`ImbalanceTracker.fill_from_klines`), but for each contract's first
live minute, of which the engine may have seen only the end (its stream was subscribed during
it): contracts warmed before that minute closed get its kline once it has (one request of
weight 1 each).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from pipelines.analytics.imbalance import ImbalanceTracker
from pipelines.binance import endpoints as ep
from pipelines.binance.parsers import parse_klines
from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.rest import RestClient, RestError
from pipelines.records.timeunits import MINUTE_MS

log = logging.getLogger(__name__)

_RESCAN_S = 30.0  # how often new listings are looked for once the first pass is done
_SEAM_POLL_S = 2.0  # how often closed first live minutes are looked for
# A kline whose minute ended this long ago by the local clock is complete on the exchange too
# (clocks a few seconds apart): the open minute's trades come live, never from its kline.
_SETTLED_MS = 5_000


@dataclass(slots=True)
class WarmupProgress:
    """How far the warm-up is: contracts done of those watched, minutes taken, weight spent."""

    contracts_done: int = 0
    contracts_total: int = 0
    minutes: int = 0
    weight: int = 0
    failed: int = 0
    seams: int = 0  # contracts whose first live minute was completed from its kline
    seconds: float = 0.0  # from the first request to the last contract of the first pass

    @property
    def complete(self) -> bool:
        return self.contracts_total > 0 and self.contracts_done >= self.contracts_total


class MinuteWarmup:
    def __init__(
        self,
        rest: RestClient,
        registry: SymbolRegistry,
        tracker: ImbalanceTracker,
        *,
        hours: float = 8.0,
        reserve_weight: int = 480,
    ) -> None:
        self.rest = rest
        self.registry = registry
        self.tracker = tracker
        self.minutes = max(
            1, min(int(hours * 60) + 1, ep.KLINES_MAX_LIMIT, tracker.history_minutes)
        )
        self.reserve_weight = reserve_weight
        self.progress = WarmupProgress()
        self._done: set[str] = set()
        self._seam_open: set[str] = set()  # warmed before the engine's first minute closed
        self.first_pass_running = False  # bulk history loads wait for it (Engine)

    @property
    def seams_pending(self) -> int:
        """Contracts that traded live whose first live minute still waits for its kline (one
        that has not traded live yet has nothing to complete)."""
        return len(self._seams())

    def _seams(self) -> dict[str, int]:
        """Open seams of contracts that traded live: symbol -> its first live minute."""
        seams = {}
        for symbol in self._seam_open:
            sym = self.registry.index(symbol)
            first = self.tracker.first_live_minute(sym) if sym is not None else None
            if first is not None:
                seams[symbol] = first
        return seams

    async def run(self) -> None:
        """Warm every watched contract, then keep completing first live minutes and warming
        new listings (runs until cancelled)."""
        began = time.monotonic()
        self.first_pass_running = True
        scanned = -_RESCAN_S
        while True:
            if time.monotonic() - scanned >= _RESCAN_S:
                scanned = time.monotonic()
                todo = sorted(self.registry.active - self._done)
                self.progress.contracts_total = len(self.registry.active & self._done) + len(todo)
                try:
                    for symbol in todo:
                        await self.warm(symbol)
                        if self.progress.complete and not self.progress.seconds:
                            self.progress.seconds = time.monotonic() - began
                finally:
                    self.first_pass_running = False
            await self._close_seams()
            await asyncio.sleep(_SEAM_POLL_S)

    async def warm(self, symbol: str) -> int:
        """One contract's last minutes from its klines; returns the minutes taken."""
        now_ms = int(time.time() * 1000)
        params = {"symbol": symbol, "interval": "1m", "limit": self.minutes, "endTime": now_ms}
        taken = await self._fill(symbol, params, now_ms - _SETTLED_MS)
        if taken is None:  # not retried here: the next pass (a new listing scan) tries again
            return 0
        sym = self.registry.index(symbol)
        first = self.tracker.first_live_minute(sym) if sym is not None else None
        if first is None or (first + 1) * MINUTE_MS > now_ms - _SETTLED_MS:  # still open
            self._seam_open.add(symbol)
        self._done.add(symbol)
        self.progress.contracts_done += 1
        self.progress.minutes += taken
        return taken

    async def _close_seams(self) -> None:
        """Each contract's first live minute, from its kline, once that minute has closed (the
        exchange's trades are in a later minute: its clock, not ours) and settled."""
        newest = self.tracker.newest_minute
        closed = {s: first for s, first in self._seams().items() if first < newest}
        if not closed:
            return
        await asyncio.sleep(_SETTLED_MS / 1000)  # the minutes' trades still on their way
        for symbol, first in sorted(closed.items()):
            # From the engine's first minute: a contract whose stream was subscribed during it
            # but first traded later has that minute's earlier trades only in its kline.
            start = max(min(self.tracker.first_minute or first, first), first - 99)  # weight 1
            params = {"symbol": symbol, "interval": "1m", "limit": first - start + 1,
                      "startTime": start * MINUTE_MS}  # fmt: skip
            # No reserve: a request of weight 1 that makes a minute exact goes before bulk loads.
            if await self._fill(symbol, params, (first + 1) * MINUTE_MS, reserve=0) is not None:
                self._seam_open.discard(symbol)
                self.progress.seams += 1

    async def _fill(
        self, symbol: str, params: dict, closed_before_ms: int, reserve: int | None = None
    ) -> int | None:
        """Klines asked with `params` into the tracker; the minutes taken, None on failure."""
        sym = self.registry.index(symbol)
        try:
            reserve = self.reserve_weight if reserve is None else reserve
            body = await self.rest.get(ep.KLINES_PATH, params, reserve=reserve)
            klines = parse_klines(body)
        except (RestError, ValueError, KeyError, TypeError) as exc:
            self.progress.failed += 1
            log.warning("minute history of %s unavailable: %s", symbol, exc)
            return None
        self.progress.weight += ep.rest_weight(ep.KLINES_PATH, params)
        if sym is None:
            return 0
        return self.tracker.fill_from_klines(sym, klines, closed_before_ms)
