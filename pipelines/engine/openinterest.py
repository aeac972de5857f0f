"""Open interest of every contract from REST `openInterest`, at a slow, even cadence.

One call per contract (weight 1) every `period_s` (5 min): 600 contracts cost 120 weight a
minute, 5 % of the 2,400 budget, spread evenly so gap fills are never queued behind a burst.
Each contract keeps its readings of the last hour, for the change beside the imbalance ranking
and for big orders and liquidations as a share of open interest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable

import numpy as np

from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.rest import RestClient, RestError
from pipelines.records.timeunits import HOUR_MS

log = logging.getLogger(__name__)

DEFAULT_PERIOD_S = 300.0


class OpenInterest:
    """Latest open interest (base quantity) per contract and its change over the last hour."""

    def __init__(self, rest: RestClient, registry: SymbolRegistry) -> None:
        self.rest = rest
        self.registry = registry
        self._readings: dict[str, deque[tuple[int, float]]] = {}
        self.failures = 0

    def record(self, symbol: str, time_ms: int, quantity: float) -> None:
        readings = self._readings.setdefault(symbol, deque())
        readings.append((int(time_ms), float(quantity)))
        while readings and readings[0][0] < time_ms - HOUR_MS:
            readings.popleft()

    def latest(self) -> dict[str, float]:
        """Symbol -> latest open interest in base quantity."""
        return {s: r[-1][1] for s, r in self._readings.items() if r}

    def change_pct(self) -> dict[str, float]:
        """Symbol -> % change from the oldest reading of the last hour to the latest."""
        return {
            s: 100.0 * (r[-1][1] - r[0][1]) / r[0][1]
            for s, r in self._readings.items()
            if len(r) > 1 and r[0][1] > 0
        }

    def share_pct(self, symbols: Iterable[str], quantities: Iterable[float]) -> np.ndarray:
        """Each quantity (base) as % of its contract's latest open interest; NaN if unknown."""
        latest = self.latest()
        oi = np.array([latest.get(s, np.nan) for s in symbols], dtype=np.float64)
        qty = np.asarray(list(quantities), dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(oi > 0, 100.0 * qty / oi, np.nan)

    async def poll(self, symbol: str) -> bool:
        try:
            payload = await self.rest.open_interest(symbol)
            quantity = float(payload["openInterest"])
            when = int(payload.get("time") or time.time() * 1000)
        except (RestError, ValueError, KeyError, TypeError) as exc:
            self.failures += 1
            if self.failures <= 5 or self.failures % 100 == 0:
                log.warning("open interest of %s unavailable: %s", symbol, exc)
            return False
        self.record(symbol, when, quantity)
        return True

    async def run(self, period_s: float = DEFAULT_PERIOD_S) -> None:
        """Run forever: every contract once per `period_s`, one call every period / n."""
        while True:
            symbols = sorted(self.registry.active)
            if not symbols:
                await asyncio.sleep(5)
                continue
            pause = period_s / len(symbols)
            for symbol in symbols:
                if symbol in self.registry.active:  # delisted meanwhile: skip
                    await self.poll(symbol)
                await asyncio.sleep(pause)
