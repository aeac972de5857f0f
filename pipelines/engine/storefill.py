"""Backfilling what the store is owed: trade ranges the writer could not keep in memory.

While the store cannot write, the writer keeps waiting rows up to its bound and owes the rest as
one aggTrade id range per symbol (`StoreWriter.owed`). Once it writes again, `StoreBackfill`
fetches those ranges from REST (`aggTrades?fromId=`, pages of 1,000) and submits them straight
to the writer; the live path already had these trades, so nothing goes through the sequencer.
The writer ignores ids it stored meanwhile, so the store ends exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import time

from pipelines.binance import endpoints as ep
from pipelines.binance.parsers import parse_agg_trades_rest
from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.rest import RestClient, RestError
from pipelines.records.batch import EngineBatch
from pipelines.storage.writer import OwedRange, StoreWriter

log = logging.getLogger(__name__)


class StoreBackfill:
    def __init__(
        self,
        rest: RestClient,
        writer: StoreWriter,
        registry: SymbolRegistry,
        *,
        interval_s: float = 1.0,
        max_waiting_rows: int = 200_000,
    ) -> None:
        self.rest = rest
        self.writer = writer
        self.registry = registry
        self.interval_s = interval_s
        # Submit no faster than the store writes: the backfill must not fill the bound itself.
        self.max_waiting_rows = max_waiting_rows
        self.backfilled = 0
        self.last_error = ""

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.fill_owed()

    async def fill_owed(self) -> int:
        """Backfill every owed range while the store writes; returns the trades submitted."""
        if self.writer.status().fault is not None or not self.writer.owed():
            return 0
        submitted = 0
        for owed in self.writer.take_owed():
            submitted += await self._fill(owed)
        if submitted:
            log.info("backfilled %d trades the store was owed", submitted)
        self.backfilled += submitted
        return submitted

    async def _fill(self, owed: OwedRange) -> int:
        symbol = self.registry.symbol(owed.sym)
        first, submitted = owed.first, 0
        try:
            while first <= owed.last:
                while self.writer.status().waiting_rows > self.max_waiting_rows:
                    await asyncio.sleep(0.1)
                rows = await self.rest.agg_trades(symbol, first, ep.AGG_TRADES_MAX_LIMIT)
                trades = parse_agg_trades_rest(rows, owed.sym, self.registry)
                trades = trades[trades["agg_id"] <= owed.last]
                if len(trades):
                    self.writer.submit(EngineBatch(0, int(time.time() * 1000), trades=trades))
                    submitted += len(trades)
                if len(rows) < ep.AGG_TRADES_MAX_LIMIT:
                    break  # REST has nothing newer: the range is done
                first = int(rows[-1]["a"]) + 1
        except (RestError, asyncio.CancelledError) as exc:
            self.writer.restore_owed(owed.sym, first, owed.last)  # the rest stays owed
            if isinstance(exc, asyncio.CancelledError):
                raise
            self.last_error = f"store backfill {symbol}: {exc}"
            log.warning(self.last_error)
        return submitted
