"""The stand-in's REST API: Binance's public USD-M market endpoints, weights and errors.

Every `/fapi/` response carries `X-MBX-USED-WEIGHT-1M`. Requests are charged by
`endpoints.rest_weight` before they are validated (refused requests still cost weight, as on
Binance); over budget the answer is 429 with `Retry-After`, and 418 (ban) for a client that
keeps sending inside that period. Admin endpoints (`/admin/...`) are the stand-in's own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import numpy as np
import orjson
from aiohttp import web

from pipelines.binance.endpoints import (
    AGG_TRADES_MAX_LIMIT,
    AGG_TRADES_PATH,
    BOOK_TICKER_PATH,
    DEPTH_LIMITS,
    DEPTH_PATH,
    EXCHANGE_INFO_PATH,
    FUNDING_RATE_PATH,
    KLINES_MAX_LIMIT,
    KLINES_PATH,
    OPEN_INTEREST_PATH,
    PREMIUM_INDEX_PATH,
    TICKER_24H_PATH,
    TICKER_PRICE_PATHS,
    WEIGHT_HEADER,
    rest_weight,
)
from pipelines.records.timeunits import MINUTE_MS
from pipelines.standin.archive import ARCHIVE_PREFIX, Archive, checksum, parse_name
from pipelines.standin.bars import (
    DAILY_INTERVALS,
    DAY_MS,
    INTRADAY_INTERVALS,
    intraday_bars,
    regroup_days,
)
from pipelines.standin.derivatives import FUNDING_PERIOD_MS, Derivatives, next_funding_time
from pipelines.standin.frames import Formats
from pipelines.standin.limits import WeightLimiter
from pipelines.standin.market import Market
from pipelines.standin.replay_book import ReplayBooks
from pipelines.standin.universe import TRADING

log = logging.getLogger(__name__)

AGG_TRADES_WINDOW_MS = 2 * DAY_MS  # measured: older windows get -4166


class BinanceError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


def _json(body: object, status: int = 200) -> web.Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return web.Response(body=data, status=status, content_type="application/json")


def _int_param(query, name: str, default: int | None = None) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return default
    if not text.lstrip("-").isdigit():
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(text)


class ServerTime(Protocol):
    """What the REST layer reads the time from: the stand-in's clock, or a replay's."""

    def now_ms(self) -> int: ...


class Admin(Protocol):
    """The stand-in's own controls, as the REST layer needs them."""

    def list_symbol(self, symbol: str) -> None: ...
    def delist_symbol(self, symbol: str) -> None: ...
    def set_faults(self, spec: str) -> str: ...
    def stats(self) -> dict: ...
    def draw_rest429(self) -> bool: ...


class RestApi:
    """The REST endpoints over explicit collaborators: the market (trades, books, bars), its
    wire formats, the clock, the weight limiter, the archive, mark prices and funding, and
    the admin controls."""

    def __init__(
        self,
        market: Market,
        formats: Formats,
        clock: ServerTime,
        limiter: WeightLimiter,
        archive: Archive,
        derivatives: Derivatives,
        admin: Admin,
        replay_books: ReplayBooks | None = None,
    ) -> None:
        self.market = market
        self.derivatives = derivatives
        self.formats = formats
        self.clock = clock
        self.limiter = limiter
        self.archive = archive
        self.admin = admin
        self.replay_books = replay_books

    def add_routes(self, app: web.Application) -> None:
        app.middlewares.append(self._weights)
        app.router.add_get(EXCHANGE_INFO_PATH, self.exchange_info)
        app.router.add_get(KLINES_PATH, self.klines)
        app.router.add_get(AGG_TRADES_PATH, self.agg_trades)
        app.router.add_get(DEPTH_PATH, self.depth)
        app.router.add_get(TICKER_24H_PATH, self.ticker_24h)
        app.router.add_get(PREMIUM_INDEX_PATH, self.premium_index)
        app.router.add_get(FUNDING_RATE_PATH, self.funding_rate)
        app.router.add_get(OPEN_INTEREST_PATH, self.open_interest)
        app.router.add_get(BOOK_TICKER_PATH, self.book_ticker)
        for path in TICKER_PRICE_PATHS:
            app.router.add_get(path, self.ticker_price)
        app.router.add_get("/fapi/v1/ping", self.ping)
        app.router.add_get("/fapi/v1/time", self.time)
        app.router.add_post("/admin/list", self.admin_list)
        app.router.add_post("/admin/delist", self.admin_delist)
        app.router.add_post("/admin/faults", self.admin_faults)
        app.router.add_get("/admin/stats", self.admin_stats)
        app.router.add_get(ARCHIVE_PREFIX + "{symbol}/{name}", self.archive_file)

    @web.middleware
    async def _weights(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith("/fapi/"):
            return await handler(request)
        now = self.clock.now_ms()
        try:
            weight = rest_weight(request.path, dict(request.query))
        except ValueError:
            weight = 1  # an unparsable limit is refused below, and still costs weight
        ip = request.remote or "unknown"
        verdict = self.limiter.charge(ip, weight, now, force_429=self.admin.draw_rest429())
        if verdict.status == 429:
            response = _json(
                {
                    "code": -1003,
                    "msg": (
                        f"Too many requests; current limit of IP({ip}) request weight is "
                        f"{self.limiter.limit} request weight per 1 MINUTE. Please use WebSocket "
                        "Streams for live updates to avoid polling the API."
                    ),
                },
                429,
            )
            response.headers["Retry-After"] = str(verdict.retry_after)
        elif verdict.status == 418:
            response = _json(
                {
                    "code": -1003,
                    "msg": (
                        f"Way too many requests; IP({ip}) banned until {verdict.banned_until}. Please "
                        "use WebSocket Streams for live updates to avoid bans."
                    ),
                },
                418,
            )
            response.headers["Retry-After"] = str(verdict.retry_after)
        else:
            try:
                response = await handler(request)
            except BinanceError as exc:
                response = _json({"code": exc.code, "msg": exc.msg}, exc.status)
            except web.HTTPException:
                raise
            except Exception:  # a bug must not take the stand-in down: answer like Binance
                log.exception("REST %s failed", request.path_qs)
                response = _json(
                    {
                        "code": -1000,
                        "msg": "An unknown error occurred while processing the request.",
                    },
                    500,
                )
        response.headers[WEIGHT_HEADER] = str(verdict.used)
        return response

    # -------------------------------------------------------------- helpers

    def _symbol(self, request: web.Request, *, required: bool = True) -> int | None:
        symbol = request.query.get("symbol")
        if not symbol:
            if required:
                raise BinanceError(
                    -1102,
                    "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
                )
            return None
        sym = self.market.index(symbol)
        if sym is None:
            raise BinanceError(-1121, "Invalid symbol.")
        return sym

    # -------------------------------------------------------------- market data

    async def ping(self, request: web.Request) -> web.Response:
        return _json({})

    async def time(self, request: web.Request) -> web.Response:
        return _json({"serverTime": self.clock.now_ms()})

    async def exchange_info(self, request: web.Request) -> web.Response:
        return _json(self.market.exchange_info(self.clock.now_ms()))

    async def klines(self, request: web.Request) -> web.Response:
        sym = self._symbol(request)
        interval = request.query.get("interval")
        if not interval:
            raise BinanceError(
                -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."
            )
        if interval not in INTRADAY_INTERVALS and interval not in DAILY_INTERVALS:
            raise BinanceError(-1120, "Invalid interval.")
        limit = _int_param(request.query, "limit", 500)
        if not 1 <= limit <= KLINES_MAX_LIMIT:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        start = _int_param(request.query, "startTime")
        end = _int_param(request.query, "endTime")
        market = self.market
        now = self.clock.now_ms()
        if interval in INTRADAY_INTERVALS:
            width = INTRADAY_INTERVALS[interval] * MINUTE_MS
            first = start if start is not None else (end or now) - limit * width
            # Only the bars that can be returned: a past minute's quote costs its trades.
            last = min(now, end if end is not None else now, first + limit * width)
            bars = intraday_bars(
                market.spans,
                sym,
                INTRADAY_INTERVALS[interval],
                max(first, market.first_ms),
                last,
                int(market.anchor[sym]),
            )
        else:
            days = market.daily.day_bars(sym, now // DAY_MS, market.spans)
            bars = regroup_days(days, interval)
        keep = np.ones(len(bars), bool)
        if start is not None:
            keep &= bars.close_time >= start
        if end is not None:
            keep &= bars.open_time <= end
        idx = np.flatnonzero(keep)
        idx = idx[:limit] if start is not None else idx[-limit:]
        return _json(self.formats.kline_rows(sym, bars.select(idx)))

    async def agg_trades(self, request: web.Request) -> web.Response:
        sym = self._symbol(request)
        limit = _int_param(request.query, "limit", 500)
        if not 1 <= limit <= AGG_TRADES_MAX_LIMIT:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        from_id = _int_param(request.query, "fromId")
        start = _int_param(request.query, "startTime")
        end = _int_param(request.query, "endTime")
        if from_id is not None and (start is not None or end is not None):
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        now = self.clock.now_ms()
        if start is not None and start < now - AGG_TRADES_WINDOW_MS:
            raise BinanceError(-4166, "Search window is restricted to recent 2 days only.")
        if start is not None and end is not None and end < start:
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        rows = self.market.agg_trades(
            sym, from_id=from_id, start_time=start, end_time=end, limit=limit
        )
        return _json(self.formats.rest_agg_trades(rows, sym))

    async def depth(self, request: web.Request) -> web.Response:
        sym = self._symbol(request)
        limit = _int_param(request.query, "limit", 500)
        if limit not in DEPTH_LIMITS:
            raise BinanceError(-4021, "Invalid depth limit.")
        now = self.clock.now_ms()
        replayed = (
            self.replay_books.get(self.market.contracts[sym].symbol) if self.replay_books else None
        )
        if replayed is not None:  # a replay: the capture's book at the replay position
            return _json(replayed.rest_body(limit, now))
        self.market.open_book(sym)  # from now on the true book is kept, consistent with diffs
        book = self.market.book(sym, limit, now)
        return _json(self.formats.depth_rest(sym, book, now))

    async def ticker_24h(self, request: web.Request) -> web.Response:
        sym = self._symbol(request, required=False)
        market = self.market
        now = self.clock.now_ms()
        stats = market.ticker_24h(now)
        formats = self.formats
        if sym is not None:
            return _json(formats.rest_ticker(stats, sym, now))
        return _json(
            [
                formats.rest_ticker(stats, s, now)
                for s, status in enumerate(market.status)
                if status == TRADING
            ]
        )

    def _trading(self, sym: int | None) -> list[int]:
        """One contract, or every TRADING one."""
        if sym is not None:
            return [sym]
        return [s for s, status in enumerate(self.market.status) if status == TRADING]

    def _one_or_all(self, sym: int | None, rows: list[dict]) -> web.Response:
        return _json(rows[0] if sym is not None else rows)

    async def premium_index(self, request: web.Request) -> web.Response:
        sym = self._symbol(request, required=False)
        now = self.clock.now_ms()
        funding_at = next_funding_time(now)
        rows = [
            self.formats.premium_index(self.derivatives, s, now, funding_at)
            for s in self._trading(sym)
        ]
        return self._one_or_all(sym, rows)

    async def funding_rate(self, request: web.Request) -> web.Response:
        """Settled funding, oldest first: the last `limit` (default 100, at most 1000)."""
        sym = self._symbol(request, required=False)
        limit = _int_param(request.query, "limit", 100)
        if not 1 <= limit <= 1000:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        now = self.clock.now_ms()
        start = _int_param(request.query, "startTime")
        end = min(_int_param(request.query, "endTime", now), now)
        last = end // FUNDING_PERIOD_MS * FUNDING_PERIOD_MS
        times = np.arange(last - (limit - 1) * FUNDING_PERIOD_MS, last + 1, FUNDING_PERIOD_MS)
        if start is not None:
            first = -(-start // FUNDING_PERIOD_MS) * FUNDING_PERIOD_MS
            times = np.arange(first, min(last, first + (limit - 1) * FUNDING_PERIOD_MS) + 1,
                              FUNDING_PERIOD_MS)  # fmt: skip
        rows = []
        for s in self._trading(sym):
            rates = self.derivatives.past_funding(s, times)
            marks = self._close_at(s, times)
            for t, rate, mark in zip(times.tolist(), rates.tolist(), marks, strict=True):
                rows.append(
                    {
                        "symbol": self.formats.names[s],
                        "fundingTime": t,
                        "fundingRate": f"{rate:.8f}",
                        "markPrice": f"{mark * self.market.tick[s]:.8f}",
                    }
                )
        return _json(rows)

    def _close_at(self, sym: int, times: np.ndarray) -> list[float]:
        """The last price before each time, from the minute bars (or the last price)."""
        out = []
        for t in times.tolist():
            minute = t // MINUTE_MS - 1
            bar = self.market.spans.span(sym, minute, minute)
            valid = bool(bar["valid"][0])
            out.append(float(bar["close"][0]) if valid else float(self.market.last_price[sym]))
        return out

    async def open_interest(self, request: web.Request) -> web.Response:
        sym = self._symbol(request)
        steps = round(float(self.derivatives.open_interest[sym]))
        return _json(
            {
                "openInterest": self.formats.qty(steps, sym),
                "symbol": self.formats.names[sym],
                "time": self.clock.now_ms(),
            }
        )

    async def book_ticker(self, request: web.Request) -> web.Response:
        sym = self._symbol(request, required=False)
        now = self.clock.now_ms()
        rows = [
            self.formats.book_ticker_rest(s, self.market.book(s, 1, now), now)
            for s in self._trading(sym)
        ]
        return self._one_or_all(sym, rows)

    async def ticker_price(self, request: web.Request) -> web.Response:
        sym = self._symbol(request, required=False)
        now = self.clock.now_ms()
        rows = [
            {
                "symbol": self.formats.names[s],
                "price": self.formats.price(int(self.market.last_price[s]), s),
                "time": now,
            }
            for s in self._trading(sym)
        ]
        return self._one_or_all(sym, rows)

    # -------------------------------------------------------------- admin

    def _admin_symbol(self, request: web.Request) -> str:
        symbol = request.query.get("symbol", "").strip()
        if not symbol:
            raise web.HTTPBadRequest(text="symbol is required")
        return symbol

    async def admin_list(self, request: web.Request) -> web.Response:
        symbol = self._admin_symbol(request)
        self.admin.list_symbol(symbol)
        return _json({"symbol": symbol, "status": TRADING})

    async def admin_delist(self, request: web.Request) -> web.Response:
        symbol = self._admin_symbol(request)
        try:
            self.admin.delist_symbol(symbol)
        except KeyError as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        return _json({"symbol": symbol, "status": "SETTLING"})

    async def admin_faults(self, request: web.Request) -> web.Response:
        try:
            faults = self.admin.set_faults(request.query.get("spec", ""))
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return _json({"faults": faults})

    async def admin_stats(self, request: web.Request) -> web.Response:
        return _json(self.admin.stats())

    # -------------------------------------------------------------- archive

    async def archive_file(self, request: web.Request) -> web.Response:
        """A daily aggTrades zip of the generated past, or its `.CHECKSUM`."""
        symbol, name = request.match_info["symbol"], request.match_info["name"]
        want_checksum = name.endswith(".CHECKSUM")
        zip_file = name[: -len(".CHECKSUM")] if want_checksum else name
        parsed = parse_name(zip_file)
        sym = self.market.index(symbol)
        if parsed is None or parsed[0] != symbol or sym is None:
            raise web.HTTPNotFound()
        day = parsed[1]
        if not self.archive.has_day(sym, day):
            raise web.HTTPNotFound()
        # A busy contract's day takes seconds to build: off the loop that drives the market.
        data = await asyncio.get_running_loop().run_in_executor(
            None, self.archive.zip, sym, symbol, day
        )
        if want_checksum:
            return web.Response(body=checksum(data, zip_file), content_type="text/plain")
        return web.Response(body=data, content_type="application/zip")
