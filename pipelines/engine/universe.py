"""The contracts the engine watches: listings and delistings from exchangeInfo, and their streams."""

from __future__ import annotations

import asyncio
import logging
import time

from pipelines.binance import endpoints as ep
from pipelines.binance.contracts import parse_exchange_info
from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.rest import RestClient, RestError
from pipelines.engine.sequencer import TradeSequencer
from pipelines.engine.streams import StreamSet

log = logging.getLogger(__name__)


class Universe:
    def __init__(
        self,
        rest: RestClient,
        registry: SymbolRegistry,
        sequencer: TradeSequencer,
        streams: StreamSet,
        *,
        contract_types: tuple[str, ...],
        symbols: tuple[str, ...] | None,
        book_depth: bool,
        depth_levels: int,
        depth_speed_ms: int,
    ) -> None:
        self.rest = rest
        self.registry = registry
        self.sequencer = sequencer
        self.streams = streams
        self.contract_types = contract_types
        self.symbols = symbols
        self.book_depth = book_depth
        self.depth_levels = depth_levels
        self.depth_speed_ms = depth_speed_ms
        self.last_error = ""
        # The exchange's clock minus ours (exchangeInfo's serverTime): a replayed or skewed
        # exchange clock would otherwise read as lag.
        self.clock_offset_ms = 0

    def streams_for(self, symbol: str) -> list[str]:
        names = [ep.agg_trade_stream(symbol)]
        if self.book_depth:
            names.append(ep.partial_depth_stream(symbol, self.depth_levels, self.depth_speed_ms))
        return names

    async def refresh(self) -> tuple[list[str], list[str]]:
        """Pick up listings and delistings from exchangeInfo; returns (added, removed)."""
        info = await self.rest.exchange_info()
        if isinstance(info.get("serverTime"), int):
            self.clock_offset_ms = info["serverTime"] - int(time.time() * 1000)
        specs = parse_exchange_info(info, contract_types=self.contract_types)
        if self.symbols is not None:
            wanted = set(self.symbols)
            specs = [s for s in specs if s.symbol in wanted]
        listed = {s.symbol for s in specs}
        added = [s.symbol for s in specs if s.symbol not in self.registry.active]
        removed = sorted(self.registry.active - listed)
        for spec in specs:
            if spec.symbol in added:
                self.registry.add(spec)
        self.sequencer.ensure_capacity(len(self.registry))
        for symbol in removed:
            self.registry.deactivate(symbol)
        if added:
            await self.streams.add(n for s in added for n in self.streams_for(s))
        if removed:
            await self.streams.remove(n for s in removed for n in self.streams_for(s))
        if added or removed:
            log.info("universe: %d contracts (+%d, -%d)", len(listed), len(added), len(removed))
        return added, removed

    async def run(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.refresh()
            except (RestError, KeyError, TypeError) as exc:
                self.last_error = f"universe refresh: {exc}"
                log.warning(self.last_error)
