"""Klines of a contract for the bars the engine holds no trades of: `KlineCandles`.

When a footprint opens, REST trades of its range take a while to arrive (20 weight per 1,000
trades: minutes for two hours of a busy contract), but one klines request of the bar's own
interval (weight 2 to 5) gives every candle of the range at once, with its volume and delta.
The footprint draws those until the trades are there (`analytics.footprint.kline_bars`).

Sessions share one request per contract, interval and range; a closed kline never changes, so
what was fetched is kept (a few hundred rows per footprint opened) and only extended back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import pandas as pd

from pipelines.analytics.footprint import TIMEFRAMES_MS
from pipelines.binance import endpoints as ep
from pipelines.binance.parsers import KLINE_COLUMNS, parse_klines
from pipelines.engine.rest import RestClient, RestError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CandleLoad:
    """Klines of one contract and interval from `start_ms` (bar opens) up to `end_ms`."""

    symbol: str
    interval: str
    start_ms: int
    end_ms: int = 0  # bars opening before this are complete (set when the answer arrives)
    klines: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=KLINE_COLUMNS))
    error: str = ""
    task: asyncio.Task | None = None

    @property
    def done(self) -> bool:
        return self.task is None or self.task.done()


class KlineCandles:
    def __init__(self, rest: RestClient) -> None:
        self.rest = rest
        self._loads: dict[tuple[str, str], CandleLoad] = {}

    def request(self, symbol: str, interval: str, start_ms: int) -> CandleLoad:
        """The klines of `symbol` from `start_ms` to now: a load that covers them, or a new one
        (needs the engine's running event loop)."""
        key = (symbol, interval)
        load = self._loads.get(key)
        if load is not None and load.start_ms <= start_ms and (not load.done or not load.error):
            return load
        load = CandleLoad(symbol, interval, start_ms)
        load.task = asyncio.get_running_loop().create_task(
            self._fetch(load), name=f"klines-{symbol}-{interval}"
        )
        self._loads[key] = load
        return load

    async def _fetch(self, load: CandleLoad) -> None:
        now_ms = int(time.time() * 1000)
        width = TIMEFRAMES_MS[load.interval]  # the footprint's timeframes are kline intervals
        limit = min(ep.KLINES_MAX_LIMIT, (now_ms - load.start_ms) // width + 2)
        params = {"symbol": load.symbol, "interval": load.interval, "limit": max(1, limit)}
        try:
            klines = parse_klines(await self.rest.get(ep.KLINES_PATH, params))
        except (RestError, ValueError, KeyError, TypeError) as exc:
            load.error = str(exc)
            log.warning("klines of %s unavailable: %s", load.symbol, exc)
            return
        # The newest kline is the bar still open on the exchange: every earlier one is final.
        load.klines = klines.iloc[:-1].reset_index(drop=True)
        load.end_ms = int(klines["open_time"].iloc[-1]) if len(klines) else 0
