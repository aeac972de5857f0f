"""Binance USD-M endpoints, stream names, routing and published limits.

Since 2026-04-23 market streams are served only on routed paths: an unrouted URL acknowledges
SUBSCRIBE and then delivers nothing, so every stream name is mapped to its path here, once.
"""

from __future__ import annotations

from urllib.parse import urlencode

BINANCE_REST_URL = "https://fapi.binance.com"
BINANCE_WS_URL = "wss://fstream.binance.com"
# Binance's USD-M futures testnet (REST moved from testnet.binancefuture.com to demo-fapi).
TESTNET_REST_URL = "https://demo-fapi.binance.com"
TESTNET_WS_URL = "wss://fstream.binancefuture.com"

MARKET_ROUTE = "/market"
PUBLIC_ROUTE = "/public"

MAX_STREAMS_PER_CONNECTION = 1024
MAX_INCOMING_MESSAGES_PER_SECOND = 10
CONNECTION_LIFETIME_S = 24 * 3600
SERVER_PING_INTERVAL_S = 180
REST_WEIGHT_LIMIT_PER_MINUTE = 2400
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"

EXCHANGE_INFO_PATH = "/fapi/v1/exchangeInfo"
KLINES_PATH = "/fapi/v1/klines"
AGG_TRADES_PATH = "/fapi/v1/aggTrades"
DEPTH_PATH = "/fapi/v1/depth"
TICKER_24H_PATH = "/fapi/v1/ticker/24hr"
PREMIUM_INDEX_PATH = "/fapi/v1/premiumIndex"
FUNDING_RATE_PATH = "/fapi/v1/fundingRate"
OPEN_INTEREST_PATH = "/fapi/v1/openInterest"
BOOK_TICKER_PATH = "/fapi/v1/ticker/bookTicker"
TICKER_PRICE_PATHS = ("/fapi/v1/ticker/price", "/fapi/v2/ticker/price")

AGG_TRADES_MAX_LIMIT = 1000
KLINES_MAX_LIMIT = 1500
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
BOOK_SNAPSHOT_LIMIT = 1000  # the deepest snapshot a local book syncs from (weight 20)

ALL_FORCE_ORDERS = "!forceOrder@arr"
ALL_TICKERS = "!ticker@arr"
ALL_MINI_TICKERS = "!miniTicker@arr"

# Stream-name suffixes (after "@") served on /public; everything else a screener uses is /market.
_PUBLIC_KINDS = ("depth", "bookTicker", "rpiDepth", "trade")


def resolve_urls(
    rest_url: str | None, ws_url: str | None, *, testnet: bool = False
) -> tuple[str | None, str | None]:
    """(REST, websocket) base URLs: an explicit one wins, else the testnet's when asked for.

    None leaves the caller's default (Binance itself, or the demo's stand-in).
    """
    if testnet:
        return rest_url or TESTNET_REST_URL, ws_url or TESTNET_WS_URL
    return rest_url, ws_url


def stream_symbol(symbol: str) -> str:
    """Stream names carry the symbol lowercased (an uppercase name is acknowledged and silent)."""
    return symbol.lower()


def agg_trade_stream(symbol: str) -> str:
    return f"{stream_symbol(symbol)}@aggTrade"


def kline_stream(symbol: str, interval: str = "1m") -> str:
    return f"{stream_symbol(symbol)}@kline_{interval}"


def partial_depth_stream(symbol: str, levels: int = 10, speed_ms: int = 500) -> str:
    if levels not in (5, 10, 20):
        raise ValueError(f"partial depth has 5, 10 or 20 levels, not {levels}")
    if speed_ms not in (100, 250, 500):
        raise ValueError(f"partial depth updates every 100, 250 or 500 ms, not {speed_ms}")
    # An explicit @250ms suffix is acknowledged and then silent: 250 ms is the unsuffixed default.
    suffix = "" if speed_ms == 250 else f"@{speed_ms}ms"
    return f"{stream_symbol(symbol)}@depth{levels}{suffix}"


def diff_depth_stream(symbol: str, speed_ms: int = 100) -> str:
    """`<s>@depth@100ms`: every changed level (absolute quantities), for a local order book."""
    if speed_ms not in (100, 250, 500):
        raise ValueError(f"diff depth updates every 100, 250 or 500 ms, not {speed_ms}")
    suffix = "" if speed_ms == 250 else f"@{speed_ms}ms"
    return f"{stream_symbol(symbol)}@depth{suffix}"


def is_diff_depth_stream(stream: str) -> bool:
    """`<s>@depth`, `<s>@depth@100ms`...: diff depth, not partial depth (`@depth10`)."""
    kind = stream.partition("@")[2]
    return kind == "depth" or kind.startswith("depth@")


def route_of(stream: str) -> str:
    """The routed path (/market or /public) that serves a stream name."""
    if stream.startswith("!"):
        return PUBLIC_ROUTE if stream.startswith("!bookTicker") else MARKET_ROUTE
    kind = stream.partition("@")[2]
    if kind.startswith(_PUBLIC_KINDS) and not kind.startswith("trade_"):
        return PUBLIC_ROUTE
    return MARKET_ROUTE


def combined_stream_url(ws_base: str, route: str, streams: list[str]) -> str:
    """`<base><route>/stream?streams=a/b/c`; the streams must all belong to `route`."""
    wrong = [s for s in streams if route_of(s) != route]
    if wrong:
        raise ValueError(f"streams {wrong[:3]} are not served on {route}")
    query = urlencode({"streams": "/".join(streams)}, safe="/@!")
    return f"{ws_base.rstrip('/')}{route}/stream?{query}"


def rest_weight(path: str, params: dict[str, str | int] | None = None) -> int:
    """Request weight of a public REST call, as Binance counts it (measured 2026-10-07)."""
    params = params or {}
    if path == AGG_TRADES_PATH:
        return 20
    if path == KLINES_PATH:
        limit = int(params.get("limit", 500))
        if "limit" not in params:
            return 5
        return 1 if limit <= 100 else 2 if limit <= 500 else 5 if limit <= 1000 else 10
    if path == DEPTH_PATH:
        if "limit" not in params:
            return 1
        limit = int(params["limit"])
        return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
    if path == TICKER_24H_PATH:
        return 1 if "symbol" in params else 40
    if path == PREMIUM_INDEX_PATH:
        return 1 if "symbol" in params else 10
    if path == BOOK_TICKER_PATH:  # Binance's documentation
        return 2 if "symbol" in params else 5
    if path in TICKER_PRICE_PATHS:  # Binance's documentation
        return 1 if "symbol" in params else 2
    # exchangeInfo, openInterest: 1; fundingRate has its own limit (500 per 5 min per IP) and
    # no weight header, counted as 1 here.
    return 1
