from urllib.parse import parse_qs, urlparse

import pytest

from pipelines.binance import endpoints as ep


@pytest.mark.parametrize(
    ("stream", "route"),
    [
        ("btcusdt@aggTrade", "/market"),
        ("btcusdt@kline_1m", "/market"),
        ("!forceOrder@arr", "/market"),
        ("!ticker@arr", "/market"),
        ("!miniTicker@arr", "/market"),
        ("btcusdt@markPrice@1s", "/market"),
        ("btcusdt@depth10@500ms", "/public"),
        ("btcusdt@depth@100ms", "/public"),
        ("btcusdt@bookTicker", "/public"),
        ("!bookTicker", "/public"),
        ("btcusdt@trade", "/public"),
    ],
)
def test_routes_follow_the_2026_split(stream, route):
    assert ep.route_of(stream) == route


def test_stream_names_are_lowercase_and_depth_speeds_valid():
    assert ep.agg_trade_stream("BTCUSDT") == "btcusdt@aggTrade"
    assert ep.agg_trade_stream("币安人生USDT") == "币安人生usdt@aggTrade"
    assert ep.partial_depth_stream("ETHUSDT", 10, 500) == "ethusdt@depth10@500ms"
    assert ep.partial_depth_stream("ETHUSDT", 5, 250) == "ethusdt@depth5"  # no @250ms suffix
    with pytest.raises(ValueError, match="5, 10 or 20"):
        ep.partial_depth_stream("ETHUSDT", 15)


def test_combined_url_refuses_mixed_routes():
    url = ep.combined_stream_url(
        "wss://fstream.binance.com", "/market", ["a@aggTrade", "!forceOrder@arr"]
    )
    parsed = urlparse(url)
    assert parsed.path == "/market/stream"
    assert parse_qs(parsed.query)["streams"] == ["a@aggTrade/!forceOrder@arr"]
    with pytest.raises(ValueError, match="not served on /market"):
        ep.combined_stream_url("wss://x", "/market", ["a@aggTrade", "a@depth10@500ms"])


def test_rest_weights_as_measured():
    assert ep.rest_weight(ep.AGG_TRADES_PATH, {"limit": 1000}) == 20
    assert ep.rest_weight(ep.KLINES_PATH, {"limit": 31}) == 1
    assert ep.rest_weight(ep.KLINES_PATH, {}) == 5
    assert ep.rest_weight(ep.KLINES_PATH, {"limit": 1500}) == 10
    assert ep.rest_weight(ep.DEPTH_PATH, {"limit": 1000}) == 20
    assert ep.rest_weight(ep.TICKER_24H_PATH, {}) == 40
    assert ep.rest_weight(ep.TICKER_24H_PATH, {"symbol": "BTCUSDT"}) == 1
    assert ep.rest_weight(ep.PREMIUM_INDEX_PATH, {}) == 10
    assert ep.rest_weight(ep.PREMIUM_INDEX_PATH, {"symbol": "BTCUSDT"}) == 1
    assert ep.rest_weight(ep.BOOK_TICKER_PATH, {}) == 5
    assert ep.rest_weight(ep.TICKER_PRICE_PATHS[1], {}) == 2
    assert ep.rest_weight(ep.OPEN_INTEREST_PATH, {"symbol": "BTCUSDT"}) == 1
