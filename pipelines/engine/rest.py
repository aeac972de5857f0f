"""REST client for the public USD-M endpoints, kept inside the request-weight budget.

Binance counts weight per IP per UTC clock minute and reports it in `X-MBX-USED-WEIGHT-1M`.
The client stops itself before the limit (a reserve is kept for other callers on the same IP),
honours `Retry-After` on 429 and 418, and never retries into a ban.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import aiohttp
import orjson

from pipelines.binance import endpoints as ep

log = logging.getLogger(__name__)

_POLL_S = 0.25  # how often a call holding back for its reserve looks again


class RestError(RuntimeError):
    """A REST call that failed after the client's retries; `status` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass(slots=True)
class RestStats:
    requests: int = 0
    used_weight: int = 0  # as last reported by the server
    throttled: int = 0  # 429 answers received
    banned: int = 0  # 418 answers received
    self_paused_s: float = 0.0  # time spent waiting for the next minute to stay in budget
    errors: int = 0


class RestClient:
    def __init__(
        self,
        base_url: str = ep.BINANCE_REST_URL,
        *,
        weight_budget: int = int(ep.REST_WEIGHT_LIMIT_PER_MINUTE * 0.8),
        timeout_s: float = 10.0,
        retries: int = 4,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.weight_budget = weight_budget
        self.stats = RestStats()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retries = retries
        self._session: aiohttp.ClientSession | None = None
        self._minute = 0
        self._blocked_until = 0.0  # monotonic time before which nothing is sent (429/418)
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _session_or_new(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _reserve(self, weight: int) -> None:
        """Wait until `weight` fits this minute's budget and no Retry-After is pending."""
        while True:
            now = time.monotonic()
            if now < self._blocked_until:
                await asyncio.sleep(self._blocked_until - now)
                continue
            minute = int(time.time() // 60)
            if minute != self._minute:
                self._minute = minute
                self.stats.used_weight = 0
            if self.stats.used_weight + weight <= self.weight_budget:
                self.stats.used_weight += weight  # provisional; the header corrects it
                return
            wait = 60.0 - time.time() % 60 + 0.05
            self.stats.self_paused_s += wait
            await asyncio.sleep(wait)

    def _fits(self, weight: int) -> bool:
        """Whether `weight` fits this minute's budget now (nothing reserved)."""
        if time.monotonic() < self._blocked_until:
            return False
        used = self.stats.used_weight if int(time.time() // 60) == self._minute else 0
        return used + weight <= self.weight_budget

    async def get(
        self, path: str, params: dict[str, str | int] | None = None, *, reserve: int = 0
    ) -> object:
        """One call; with `reserve`, it waits until that much weight would still be left over
        after it this minute (bulk loads keep room for gap fills, which pass no reserve)."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        weight = ep.rest_weight(path, params)
        while True:
            # One request in flight at a time: the weight budget allows ~2 heavy calls/s anyway,
            # and a request in flight when a 429 arrives would otherwise be answered with a ban.
            async with self._lock:
                if not reserve or self._fits(weight + reserve):
                    return await self._get_serialised(path, params, weight)
            # Waiting outside the lock: a gap fill must not queue behind a bulk load's pause.
            self.stats.self_paused_s += _POLL_S
            await asyncio.sleep(_POLL_S)

    async def _get_serialised(self, path: str, params: dict, weight: int) -> object:
        last_error = ""
        for attempt in range(self._retries + 1):
            await self._reserve(weight)
            self.stats.requests += 1
            try:
                async with self._session_or_new().get(
                    self.base_url + path, params={k: str(v) for k, v in params.items()}
                ) as resp:
                    body = await resp.read()
                    used = resp.headers.get(ep.WEIGHT_HEADER)
                    if used is not None and used.isdigit():
                        self.stats.used_weight = max(self.stats.used_weight, int(used))
                    if resp.status == 200:
                        return orjson.loads(body)
                    last_error = body[:200].decode(errors="replace")
                    if resp.status in (418, 429):
                        retry_after = float(resp.headers.get("Retry-After", "60"))
                        self._blocked_until = time.monotonic() + retry_after
                        if resp.status == 429:
                            self.stats.throttled += 1
                        else:
                            self.stats.banned += 1
                        log.warning(
                            "REST %s %s: backing off %.0f s", resp.status, path, retry_after
                        )
                        continue
                    if resp.status >= 500:
                        await asyncio.sleep(min(2**attempt * 0.25, 5.0))
                        continue
                    self.stats.errors += 1
                    raise RestError(resp.status, last_error)
            except (TimeoutError, aiohttp.ClientError, orjson.JSONDecodeError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(min(2**attempt * 0.25, 5.0))
        self.stats.errors += 1
        raise RestError(0, f"{path} failed after {self._retries + 1} attempts: {last_error}")

    async def exchange_info(self) -> dict:
        return await self.get(ep.EXCHANGE_INFO_PATH)

    async def agg_trades(self, symbol: str, from_id: int, limit: int = 1000) -> list[dict]:
        return await self.get(
            ep.AGG_TRADES_PATH, {"symbol": symbol, "fromId": from_id, "limit": limit}
        )

    async def agg_trades_page(
        self,
        symbol: str,
        *,
        from_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        reserve: int = 0,
    ) -> list[dict]:
        """A full page of aggTrades by id or by time window (see `get` for `reserve`)."""
        return await self.get(
            ep.AGG_TRADES_PATH,
            {
                "symbol": symbol,
                "fromId": from_id,
                "startTime": start_ms,
                "endTime": end_ms,
                "limit": ep.AGG_TRADES_MAX_LIMIT,
            },
            reserve=reserve,
        )

    async def klines(
        self,
        symbol: str,
        interval: str,
        *,
        limit: int = 500,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[list]:
        return await self.get(
            ep.KLINES_PATH,
            {
                "symbol": symbol,
                "interval": interval,
                "limit": limit,
                "startTime": start_ms,
                "endTime": end_ms,
            },
        )

    async def depth(self, symbol: str, limit: int = 20) -> dict:
        return await self.get(ep.DEPTH_PATH, {"symbol": symbol, "limit": limit})

    async def open_interest(self, symbol: str) -> dict:
        return await self.get(ep.OPEN_INTEREST_PATH, {"symbol": symbol})

    async def ticker_24h(self) -> list[dict]:
        return await self.get(ep.TICKER_24H_PATH)
