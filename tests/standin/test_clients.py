"""Third-party Binance clients against the stand-in, with only their base URLs changed.

ccxt's `binanceusdm` (REST and ccxt.pro websockets) and Binance's own USD-M SDK with its
default settings (it opens /market, /public and /private stream connections). The market is
paused before values are compared, so REST and streams describe the same state.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from pipelines.standin.server import StandInThread

ccxtpro = pytest.importorskip("ccxt.pro")
usdm_sdk = pytest.importorskip("binance_sdk_derivatives_trading_usds_futures")

BTC = "BTC/USDT:USDT"


@pytest.fixture
def exchange():
    with StandInThread(symbols=20, rate=300.0, seed=4, history_s=2 * 3600) as ex:
        yield ex


def _ccxt(exchange: StandInThread):
    client = ccxtpro.binanceusdm({"enableRateLimit": False})
    for name, url in list(client.urls["api"].items()):
        if isinstance(url, str) and "fapi.binance.com" in url:
            client.urls["api"][name] = url.replace("https://fapi.binance.com", exchange.rest_url)
    client.urls["api"]["ws"]["linear"] = exchange.ws_url + "/ws"
    return client


async def test_ccxt_rest_and_websockets_agree(exchange) -> None:
    client = _ccxt(exchange)
    standin = exchange.standin
    try:
        markets = await client.load_markets()
        btc = markets[BTC]
        assert btc["precision"]["price"] == 0.1 and btc["precision"]["amount"] == 0.001
        assert btc["limits"]["amount"]["max"] == 1000 and btc["limits"]["cost"]["min"] == 50
        streamed = await asyncio.wait_for(client.watch_trades(BTC), 20)
        assert streamed and all(t["symbol"] == BTC for t in streamed)
        book = await asyncio.wait_for(client.watch_order_book(BTC), 20)
        assert book["bids"][0][0] < book["asks"][0][0]

        exchange.call(standin.pause)
        await asyncio.sleep(1.0)  # nothing trades now: this lets the last depth event out
        trades = await client.fetch_trades(BTC, limit=20)
        ticker = await client.fetch_ticker(BTC)
        tickers = await client.fetch_tickers()
        ohlcv = await client.fetch_ohlcv(BTC, "1m", limit=5)
        rest_book = await client.fetch_order_book(BTC, 1000)
        funding = await client.fetch_funding_rate(BTC)
        interest = await client.fetch_open_interest(BTC)

        last = trades[-1]["price"]
        assert ticker["last"] == last == ohlcv[-1][4] == tickers[BTC]["last"]
        assert ticker["high"] >= max(c[2] for c in ohlcv) and ticker["low"] <= min(
            c[3] for c in ohlcv
        )
        assert rest_book["bids"][0][0] <= last <= rest_book["asks"][0][0]
        assert abs(funding["markPrice"] / last - 1) < 0.005
        assert abs(funding["indexPrice"] / last - 1) < 0.005
        assert -0.0075 <= funding["fundingRate"] <= 0.0075
        assert interest["openInterestAmount"] > 0
        # The book ccxt keeps from the diff-depth stream is the REST book.
        kept = client.orderbooks[BTC]
        assert kept["bids"][:50] == rest_book["bids"][:50]
        assert kept["asks"][:50] == rest_book["asks"][:50]
    finally:
        await client.close()


async def test_binance_sdk_connects_with_its_default_settings(exchange) -> None:
    from binance_common.configuration import (
        ConfigurationRestAPI,
        ConfigurationWebSocketStreams,
    )
    from binance_sdk_derivatives_trading_usds_futures.derivatives_trading_usds_futures import (
        DerivativesTradingUsdsFutures,
    )

    client = DerivativesTradingUsdsFutures(
        config_rest_api=ConfigurationRestAPI(base_path=exchange.rest_url),
        config_ws_streams=ConfigurationWebSocketStreams(stream_url=exchange.ws_url),
    )
    info = client.rest_api.exchange_information().data()
    assert info.symbols[0].symbol == "BTCUSDT"
    mark = client.rest_api.mark_price(symbol="BTCUSDT").data().actual_instance
    assert mark.symbol == "BTCUSDT" and float(mark.mark_price) > 0

    connection = await client.websocket_streams.create_connection()
    got: dict[str, list] = {"agg": [], "mark": [], "depth": []}
    try:
        paths = sorted(c.url_path for c in client.websocket_streams.connections)
        assert paths == ["market", "private", "public"]
        handles = [
            (await connection.aggregate_trade_streams(symbol="btcusdt"), "agg"),
            (await connection.mark_price_stream(symbol="btcusdt", update_speed="1s"), "mark"),
            (
                await connection.diff_book_depth_streams(symbol="btcusdt", update_speed="100ms"),
                "depth",
            ),
        ]
        for handle, key in handles:
            handle.on("message", got[key].append)
        deadline = time.monotonic() + 30
        while not (got["agg"] and got["mark"] and len(got["depth"]) >= 2):
            assert time.monotonic() < deadline, {k: len(v) for k, v in got.items()}
            await asyncio.sleep(0.1)
    finally:
        await connection.close_connection(close_session=True)
    agg = got["agg"][0]
    assert agg.s == "BTCUSDT" and int(agg.l) >= int(agg.f)
    assert got["mark"][0].s == "BTCUSDT" and got["mark"][0].r is not None
    first, second = got["depth"][:2]
    assert first.s == "BTCUSDT" and second.pu == first.u
