"""Filling the holes in each contract's aggTrade sequence from REST, exactly once.

The sequencer holds trades behind a gap; `GapFiller` fetches the missing ids (by `fromId`, at
most `concurrency` contracts at a time), hands what the sequencer releases to the next batch,
and gives a gap up, reported, when REST cannot fill it in time.
"""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np

from pipelines.binance import endpoints as ep
from pipelines.binance.parsers import parse_agg_trades_rest
from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.rest import RestClient, RestError
from pipelines.engine.sequencer import Gap, TradeSequencer

log = logging.getLogger(__name__)


class GapFiller:
    def __init__(
        self,
        rest: RestClient,
        sequencer: TradeSequencer,
        registry: SymbolRegistry,
        *,
        concurrency: int,
        give_up_s: float,
    ) -> None:
        self.rest = rest
        self.sequencer = sequencer
        self.registry = registry
        self.concurrency = concurrency
        self.give_up_s = give_up_s
        self.released: list[np.ndarray] = []  # trades for the next batch, in release order
        self.last_error = ""

    def take(self) -> list[np.ndarray]:
        """What REST filled since the last call (the engine emits it with its next batch)."""
        out, self.released = self.released, []
        return out

    async def run(self) -> None:
        busy: dict[int, asyncio.Task] = {}
        while True:
            for sym in [s for s, t in busy.items() if t.done()]:
                del busy[sym]
            for gap in self.sequencer.missing():
                if gap.sym not in busy and len(busy) < self.concurrency:
                    busy[gap.sym] = asyncio.get_running_loop().create_task(self._fill(gap))
            await asyncio.sleep(0.02)

    async def _fill(self, gap: Gap) -> None:
        symbol = self.registry.symbol(gap.sym)
        try:
            rows = await self.rest.agg_trades(symbol, gap.from_id, ep.AGG_TRADES_MAX_LIMIT)
        except RestError as exc:
            if exc.status == 400 or time.monotonic() - gap.found_at > self.give_up_s:
                self._abandon(gap, str(exc))
            return
        if not rows and time.monotonic() - gap.found_at > self.give_up_s:
            self._abandon(gap, "REST returned nothing for the gap")
            return
        self._release(self.sequencer.fill(parse_agg_trades_rest(rows, gap.sym, self.registry)))

    def _abandon(self, gap: Gap, why: str) -> None:
        symbol = self.registry.symbol(gap.sym)
        self.last_error = f"{symbol}: trades {gap.from_id}..{gap.to_id} lost ({why})"
        log.error(self.last_error)
        self._release(self.sequencer.abandon(gap.sym))

    def _release(self, trades: np.ndarray) -> int:
        if len(trades):
            self.released.append(trades)
        return len(trades)

    async def fetch_tails(self, symbols: list[str]) -> int:
        """Fetch any trades newer than the last released id (the tail a dropped socket hides).

        Costs one REST call (weight 20) per 1,000 trades per symbol; returns how many it found.
        """
        recovered = 0
        for symbol in symbols:
            sym = self.registry.index(symbol)
            if sym is None or sym >= len(self.sequencer.last_id):
                continue
            last = int(self.sequencer.last_id[sym])
            if last < 0:
                continue
            while True:
                rows = await self.rest.agg_trades(symbol, last + 1, ep.AGG_TRADES_MAX_LIMIT)
                trades = parse_agg_trades_rest(rows, sym, self.registry)
                recovered += self._release(self.sequencer.fill(trades))
                if len(rows) < ep.AGG_TRADES_MAX_LIMIT:
                    break
                last = int(self.sequencer.last_id[sym])
        return recovered
