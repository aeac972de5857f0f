"""The stand-in over real sockets: protocol, limits, faults and ground truth, like Binance."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import urllib.request

import aiohttp
import numpy as np
import orjson
import pytest

from pipelines.binance.contracts import parse_exchange_info
from pipelines.binance.endpoints import WEIGHT_HEADER
from pipelines.binance.parsers import FrameParser, parse_agg_trades_rest
from pipelines.binance.registry import SymbolRegistry
from pipelines.standin.clock import ManualClock
from pipelines.standin.server import StandIn, StandInThread
from pipelines.standin.truth import read_truth
from tests.samples import cryptofeed_ws_frames, sample

START = 1_791_382_980_000  # a UTC minute boundary, on a second divisible by 10
ALL_TYPES = ("PERPETUAL", "TRADIFI_PERPETUAL", "CURRENT_QUARTER")


async def _drain(ws: aiohttp.ClientWebSocketResponse, idle: float = 0.3) -> list:
    """Messages until the connection is quiet for `idle` seconds (or closed)."""
    out = []
    while True:
        try:
            msg = await ws.receive(timeout=idle)
        except TimeoutError:
            return out
        out.append(msg)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return out


async def _listen(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> None:
    """Keep receiving (and so answering pings) for a while."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ws.receive(), timeout=seconds)


def _texts(messages: list) -> list[str]:
    return [m.data for m in messages if m.type == aiohttp.WSMsgType.TEXT]


async def _ready(ws: aiohttp.ClientWebSocketResponse) -> list[str]:
    """Round-trip a LIST_SUBSCRIPTIONS: the server has registered the connection."""
    await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":999}')
    while True:
        msg = orjson.loads((await ws.receive(timeout=5)).data)
        if msg.get("id") == 999:
            return msg["result"]


async def _registry(session: aiohttp.ClientSession, exchange: StandIn) -> SymbolRegistry:
    async with session.get(f"{exchange.rest_url}/fapi/v1/exchangeInfo") as resp:
        info = await resp.json()
    return SymbolRegistry(parse_exchange_info(info, contract_types=ALL_TYPES))


def _agg_streams(exchange: StandIn) -> str:
    return "/".join(
        f"{c.symbol.lower()}@aggTrade"
        for c, s in zip(exchange.market.contracts, exchange.market.status, strict=True)
        if s == "TRADING"
    )


def _market_view(trades: np.ndarray, registry: SymbolRegistry, exchange: StandIn) -> np.ndarray:
    """Parsed trades re-indexed from the client's registry to the stand-in's symbol indices."""
    out = trades.copy()
    to_market = np.array([exchange.market.index(registry.symbol(i)) for i in range(len(registry))])
    out["sym"] = to_market[out["sym"]]
    return out


async def test_served_frames_parse_with_zero_rejections() -> None:
    clock = ManualClock(START)
    async with (
        StandIn(symbols=40, rate=1500, seed=1, clock=clock) as exchange,
        aiohttp.ClientSession() as session,
    ):
        registry = await _registry(session, exchange)
        market_streams = (
            _agg_streams(exchange) + "/!forceOrder@arr/!ticker@arr"
            "/!miniTicker@arr/btcusdt@kline_1m/币安人生usdt@kline_1m"
        )
        public_streams = "btcusdt@depth10@100ms/ethusdt@depth5/btcusdt@bookTicker"
        market_ws = await session.ws_connect(
            f"{exchange.ws_url}/market/stream?streams={market_streams}"
        )
        public_ws = await session.ws_connect(
            f"{exchange.ws_url}/public/stream?streams={public_streams}"
        )
        await _ready(market_ws)
        await _ready(public_ws)
        await clock.advance(10_000)  # a COIN-M ticker row comes every 10 s
        frames = _texts(await _drain(market_ws)) + _texts(await _drain(public_ws))
        parser = FrameParser(registry)
        batch = parser.parse(frames)
        assert batch.rejected == 0, parser.rejections.samples
        assert len(batch.trades) > 3000
        assert len(batch.tickers) > 0 and len(batch.klines) > 0
        assert len(batch.books) > 0 and len(batch.book_tickers) > 0
        assert parser.filtered["COIN-M row"] > 0  # BTCUSD_PERP rides along in ticker arrays
        # Every aggTrade is the generated one, value for value.
        got = _market_view(batch.trades, registry, exchange)
        for sym in (0, exchange.market.index("币安人生USDT")):
            mine = got[got["sym"] == sym]
            ref = exchange.market.history.symbol_trades(sym)
            ref = ref[np.isin(ref["agg_id"], mine["agg_id"])]
            assert len(mine) == len(ref) > 0
            for name in ("agg_id", "first_id", "last_id", "time", "price", "qty", "buyer_maker"):
                np.testing.assert_array_equal(mine[name], ref[name])
        envelope = orjson.loads(next(f for f in frames if '"aggTrade"' in f))
        assert envelope["stream"].endswith("@aggTrade")
        assert {"e", "E", "a", "s", "p", "q", "nq", "f", "l", "T", "m", "st"} == set(
            envelope["data"]
        )
        await market_ws.close()
        await public_ws.close()


async def test_plain_client_on_real_time_receives_agg_trades() -> None:
    async with (
        StandIn(symbols=20, rate=400, seed=2) as exchange,
        aiohttp.ClientSession() as session,
    ):
        async with session.ws_connect(
            f"{exchange.ws_url}/market/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade"
        ) as ws:
            frames = [orjson.loads((await ws.receive(timeout=5)).data) for _ in range(10)]
        assert {f["stream"] for f in frames} <= {"btcusdt@aggTrade", "ethusdt@aggTrade"}
        assert all(f["data"]["e"] == "aggTrade" for f in frames)
        async with session.ws_connect(f"{exchange.ws_url}/market/ws/btcusdt@aggTrade") as ws:
            raw = orjson.loads((await ws.receive(timeout=5)).data)
        assert raw["e"] == "aggTrade" and raw["s"] == "BTCUSDT"  # raw: no envelope


async def test_control_messages_and_their_errors() -> None:
    async with (
        StandIn(symbols=5, rate=10, seed=1) as exchange,
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{exchange.ws_url}/market/ws") as ws,
    ):

        async def ask(text: str) -> dict:
            await ws.send_str(text)
            return orjson.loads((await ws.receive(timeout=5)).data)

        assert await ask('{"method":"SUBSCRIBE","params":["btcusdt@aggTrade"],"id":1}') == {
            "result": None,
            "id": 1,
        }
        assert await ask('{"method":"LIST_SUBSCRIPTIONS","id":2}') == {
            "result": ["btcusdt@aggTrade"],
            "id": 2,
        }
        assert await ask('{"method":"GET_PROPERTY","params":["combined"],"id":3}') == {
            "result": False,
            "id": 3,
        }
        assert (await ask('{"method":"SET_PROPERTY","params":["combined","yes"],"id":4}'))["error"][
            "code"
        ] == 1
        assert (await ask('{"method":"GET_PROPERTY","params":["x"],"id":5}'))["error"] == {
            "code": 0,
            "msg": "Unknown property",
        }
        bad = await ask('{"method":"FLY","id":6}')
        assert bad["error"]["code"] == 2 and bad["error"]["msg"].startswith("Invalid request")
        assert (await ask('{"method":"SUBSCRIBE","params":[],"id":-1}'))["error"]["code"] == 2
        assert (await ask("not json"))["error"]["code"] == 3
        assert await ask('{"method":"UNSUBSCRIBE","params":["btcusdt@aggTrade"],"id":7}') == {
            "result": None,
            "id": 7,
        }
        assert await ask('{"method":"LIST_SUBSCRIPTIONS","id":8}') == {"result": [], "id": 8}


async def test_1025th_stream_is_refused_with_code_4_then_close_1008() -> None:
    async with StandIn(symbols=5, rate=10, seed=1) as exchange, aiohttp.ClientSession() as session:
        names = [f"s{i}usdt@aggTrade" for i in range(1024)]
        async with session.ws_connect(f"{exchange.ws_url}/market/ws") as ws:
            await ws.send_bytes(orjson.dumps({"method": "SUBSCRIBE", "params": names, "id": 1}))
            assert orjson.loads((await ws.receive(timeout=5)).data) == {"result": None, "id": 1}
            await ws.send_str('{"method":"SUBSCRIBE","params":["btcusdt@aggTrade"],"id":2}')
            reply = orjson.loads((await ws.receive(timeout=5)).data)
            assert reply == {"error": {"code": 4, "msg": "Too many subscriptions"}, "id": 2}
            closing = await ws.receive(timeout=5)
            assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1008
        long_url = f"{exchange.ws_url}/market/stream?streams=" + "/".join(
            [*names, "btcusdt@aggTrade"]
        )
        async with session.ws_connect(long_url) as ws:
            closing = await ws.receive(timeout=5)
            assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1008


async def test_more_than_10_messages_per_second_closes_with_1008() -> None:
    async with StandIn(symbols=5, rate=10, seed=1) as exchange, aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{exchange.ws_url}/market/ws") as ws:
            for i in range(40):
                await ws.send_str(f'{{"method":"LIST_SUBSCRIPTIONS","id":{i}}}')
            messages = await _drain(ws, idle=2)
        answered = [m for m in messages if m.type == aiohttp.WSMsgType.TEXT]
        assert 15 <= len(answered) <= 17  # the measured burst, plus what 1 s refills
        assert messages[-1].type == aiohttp.WSMsgType.CLOSE and messages[-1].data == 1008
        assert messages[-1].extra == "Too many requests"
        async with session.ws_connect(f"{exchange.ws_url}/market/ws") as ws:
            for i in range(15):
                await ws.send_str(f'{{"method":"LIST_SUBSCRIPTIONS","id":{i}}}')
            assert len(_texts(await _drain(ws, idle=1.2))) == 15
            for i in range(5):
                await ws.send_str(f'{{"method":"LIST_SUBSCRIPTIONS","id":{i}}}')
            assert len(_texts(await _drain(ws, idle=0.5))) == 5
            assert not ws.closed


async def test_lifetime_ends_the_connection() -> None:
    async with (
        StandIn(symbols=5, rate=50, seed=1, lifetime_s=0.5) as exchange,
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{exchange.ws_url}/market/ws/btcusdt@aggTrade") as ws,
    ):
        messages = await _drain(ws, idle=5)
        assert messages[-1].type == aiohttp.WSMsgType.CLOSE and messages[-1].data == 1001


async def test_server_pings_and_closes_without_pong() -> None:
    async with (
        StandIn(symbols=5, rate=10, seed=1, ping_interval_s=0.2, pong_timeout_s=0.7) as exchange,
        aiohttp.ClientSession() as session,
    ):
        silent = await session.ws_connect(f"{exchange.ws_url}/market/ws", autoping=False)
        polite = await session.ws_connect(f"{exchange.ws_url}/market/ws")
        ping = await silent.receive(timeout=5)
        assert ping.type == aiohttp.WSMsgType.PING
        assert abs(int(ping.data) - exchange.clock.now_ms()) < 5000  # a ms timestamp
        # aiohttp answers pings while it receives; the silent client never does.
        messages, _ = await asyncio.gather(_drain(silent, idle=5), _listen(polite, 2.0))
        assert messages[-1].type == aiohttp.WSMsgType.CLOSE and messages[-1].data == 1008
        assert messages[-1].extra == "Pong timeout"
        assert not polite.closed
        await polite.close()
        await silent.close()


async def test_streams_on_the_wrong_route_are_acknowledged_and_silent() -> None:
    clock = ManualClock(START)
    async with (
        StandIn(symbols=10, rate=800, seed=3, clock=clock) as exchange,
        aiohttp.ClientSession() as session,
    ):
        sockets = {}
        for name, path in (
            ("market", "/market/stream"),
            ("public", "/public/stream"),
            ("unrouted", "/stream"),
            ("upper", "/market/stream"),
        ):
            ws = await session.ws_connect(exchange.ws_url + path)
            sockets[name] = ws
        wanted = {
            "market": ["btcusdt@aggTrade"],
            "public": ["btcusdt@aggTrade"],
            "unrouted": ["btcusdt@aggTrade", "btcusdt@depth5"],
            "upper": ["BTCUSDT@aggTrade"],
        }
        for name, ws in sockets.items():
            await ws.send_bytes(
                orjson.dumps({"method": "SUBSCRIBE", "params": wanted[name], "id": 1})
            )
            assert orjson.loads((await ws.receive(timeout=5)).data) == {"result": None, "id": 1}
        await clock.advance(2000)
        got = {
            name: [orjson.loads(t) for t in _texts(await _drain(ws))]
            for name, ws in sockets.items()
        }
        assert len(got["market"]) > 20
        assert all(f["stream"] == "btcusdt@aggTrade" for f in got["market"])
        assert got["public"] == [] and got["upper"] == []
        assert got["unrouted"] and all(f["stream"] == "btcusdt@depth5" for f in got["unrouted"])
        for ws in sockets.values():
            await ws.close()


async def test_rest_weight_header_429_retry_after_then_418() -> None:
    clock = ManualClock(START + 1000)
    async with (
        StandIn(symbols=5, rate=50, seed=1, clock=clock, rest_weight_limit=100) as exchange,
        aiohttp.ClientSession() as session,
    ):
        await clock.advance(1000)
        url = f"{exchange.rest_url}/fapi/v1/aggTrades?symbol=BTCUSDT&limit=10"
        for i in range(5):
            async with session.get(url) as resp:
                assert resp.status == 200 and resp.headers[WEIGHT_HEADER] == str(20 * (i + 1))
                assert 0 < len(await resp.json()) <= 10
        async with session.get(url) as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"] == "58"  # to the next UTC minute
            assert resp.headers[WEIGHT_HEADER] == "120"
            assert (await resp.json())["code"] == -1003
        async with session.get(f"{exchange.rest_url}/fapi/v1/ping") as resp:
            assert resp.status == 418 and int(resp.headers["Retry-After"]) == 120
        await clock.advance(125_000)
        async with session.get(f"{exchange.rest_url}/fapi/v1/ping") as resp:
            assert resp.status == 200 and resp.headers[WEIGHT_HEADER] == "1"


async def test_rest_errors_look_like_binance() -> None:
    async with (
        StandIn(symbols=5, rate=50, seed=1, faults="rest429=0") as exchange,
        aiohttp.ClientSession() as session,
    ):
        cases = {
            "/fapi/v1/klines?symbol=NOPE&interval=1d": -1121,
            "/fapi/v1/klines?symbol=BTCUSDT&interval=7m": -1120,
            "/fapi/v1/klines?symbol=BTCUSDT&interval=1d&limit=1501": -1130,
            "/fapi/v1/aggTrades?interval=1d": -1102,
            "/fapi/v1/aggTrades?symbol=BTCUSDT&limit=1001": -1130,
            "/fapi/v1/aggTrades?symbol=BTCUSDT&fromId=1&startTime=1": -1128,
            "/fapi/v1/aggTrades?symbol=BTCUSDT&startTime=1000": -4166,
            "/fapi/v1/depth?symbol=BTCUSDT&limit=7": -4021,
            "/fapi/v1/ticker/24hr?symbol=NOPE": -1121,
        }
        for path, code in cases.items():
            async with session.get(exchange.rest_url + path) as resp:
                assert resp.status == 400, path
                assert (await resp.json())["code"] == code, path
                assert WEIGHT_HEADER in resp.headers
        exchange.set_faults("rest429=1")
        async with session.get(f"{exchange.rest_url}/fapi/v1/time") as resp:
            assert resp.status == 429 and resp.headers["Retry-After"] == "1"


async def test_rest_market_data_endpoints() -> None:
    async with (
        StandIn(symbols=30, rate=500, seed=1) as exchange,
        aiohttp.ClientSession() as session,
    ):
        await asyncio.sleep(0.5)

        async def get(path: str):
            async with session.get(exchange.rest_url + path) as resp:
                assert resp.status == 200, path
                return await resp.json()

        days = await get("/fapi/v1/klines?symbol=BTCUSDT&interval=1d&limit=61")
        assert len(days) == 61 and all(len(row) == 12 for row in days)
        assert all(row[0] % 86_400_000 == 0 for row in days)
        assert sum(float(row[7]) for row in days[:-1]) / 60 > 1e6  # quote volume, field 7
        depth = await get("/fapi/v1/depth?symbol=BTCUSDT&limit=20")
        assert len(depth["bids"]) == len(depth["asks"]) == 20
        assert float(depth["bids"][0][0]) < float(depth["asks"][0][0])
        last = float((await get("/fapi/v1/aggTrades?symbol=BTCUSDT&limit=1"))[0]["p"])
        assert last in (float(depth["bids"][0][0]), float(depth["asks"][0][0]))
        tickers = await get("/fapi/v1/ticker/24hr")
        assert len(tickers) == 30
        one = await get("/fapi/v1/ticker/24hr?symbol=BTCUSDT")
        assert one["symbol"] == "BTCUSDT" and float(one["quoteVolume"]) > 0


async def test_malformed_frames_are_counted_as_rejections() -> None:
    clock = ManualClock(START)
    async with (
        StandIn(symbols=20, rate=1000, seed=5, clock=clock, faults="malformed=0.05") as exchange,
        aiohttp.ClientSession() as session,
    ):
        registry = await _registry(session, exchange)
        ws = await session.ws_connect(
            f"{exchange.ws_url}/market/stream?streams={_agg_streams(exchange)}"
        )
        await _ready(ws)
        await clock.advance(2000)
        frames = _texts(await _drain(ws))
        injected = exchange.connections[0].faults.counts["malformed"]
        parser = FrameParser(registry)
        batch = parser.parse(frames)
        assert injected > 10
        assert batch.rejected == injected
        generated = exchange.market.history
        assert len(batch.trades) == len(generated)  # the real frame still follows each one
        await ws.close()


async def test_drop_and_stall_faults() -> None:
    clock = ManualClock(START)
    async with (
        StandIn(symbols=10, rate=1000, seed=4, clock=clock, faults="stall=1000:1") as exchange,
        aiohttp.ClientSession() as session,
    ):
        ws = await session.ws_connect(f"{exchange.ws_url}/market/ws/btcusdt@aggTrade")
        await _ready(ws)
        await clock.advance(500)
        assert _texts(await _drain(ws)) == []  # stalled: open but silent
        assert exchange.connections[0].frames_lost_stalled > 0
        exchange.set_faults("")
        await clock.advance(1500)
        assert len(_texts(await _drain(ws))) > 0 and not ws.closed  # the stall ended
        exchange.set_faults("drop=1000")
        await clock.advance(200)
        messages = await _drain(ws, idle=2)
        # Dropped: the TCP connection ends without a websocket close frame.
        assert messages and messages[-1].type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert ws.close_code != 1000
        await ws.close()


async def test_truth_file_equals_what_was_sent_and_rest_backfill(tmp_path) -> None:
    clock = ManualClock(START)
    truth_path = tmp_path / "truth.csv"
    faults = "duplicate=0.02,reorder=0.02,malformed=0.01,gap=0.01"
    async with (
        StandIn(
            symbols=30, rate=1200, seed=9, clock=clock, truth_path=truth_path, faults=faults
        ) as exchange,
        aiohttp.ClientSession() as session,
    ):
        registry = await _registry(session, exchange)
        ws = await session.ws_connect(
            f"{exchange.ws_url}/market/stream?streams={_agg_streams(exchange)}"
        )
        await _ready(ws)
        await clock.advance(3000)
        exchange.pause()
        await clock.advance(500)
        frames = _texts(await _drain(ws))
        counts = dict(exchange.connections[0].faults.counts)
        batch = FrameParser(registry).parse(frames)
        received = _market_view(batch.trades, registry, exchange)
        unique = np.unique(received[["sym", "agg_id"]])
        assert counts["duplicate"] > 0 and counts["gap"] > 0 and counts["reorder"] > 0
        assert len(received) - len(unique) == counts["duplicate"]
        exchange.truth.flush()
        truth = read_truth(truth_path)
        truth_keys = {
            (exchange.market.index(s), int(a))
            for s, a in zip(truth["symbol"], truth["agg_trade_id"], strict=True)
        }
        got_keys = {(int(s), int(a)) for s, a in unique.tolist()}
        missing = truth_keys - got_keys
        assert got_keys <= truth_keys
        assert len(missing) == counts["gap"]  # everything else arrived
        # Gaps are recoverable: REST aggTrades fromId answers them from the same history.
        backfilled = []
        for sym, agg_id in sorted(missing):
            symbol = exchange.market.contracts[sym].symbol
            async with session.get(
                f"{exchange.rest_url}/fapi/v1/aggTrades",
                params={"symbol": symbol, "fromId": agg_id, "limit": 1},
            ) as resp:
                body = await resp.json()
            rows = parse_agg_trades_rest(body, registry.index(symbol), registry)
            backfilled.append(_market_view(rows, registry, exchange))
        complete = np.concatenate([received, *backfilled])
        complete = complete[np.unique(complete[["sym", "agg_id"]], return_index=True)[1]]
        assert len(complete) == len(truth)
        for symbol, rows in truth.groupby("symbol"):
            sym = exchange.market.index(symbol)
            spec = exchange.market.contracts[sym].spec
            mine = complete[complete["sym"] == sym]
            mine = mine[np.argsort(mine["agg_id"])]
            np.testing.assert_array_equal(mine["agg_id"], rows["agg_trade_id"])
            np.testing.assert_array_equal(mine["price"], spec.price_to_ticks(rows["price"]))
            np.testing.assert_array_equal(mine["qty"], spec.qty_to_steps(rows["quantity"]))
            np.testing.assert_array_equal(mine["time"], rows["transact_time"])
            np.testing.assert_array_equal(mine["buyer_maker"], rows["is_buyer_maker"])
        await ws.close()


async def test_admin_list_and_delist() -> None:
    clock = ManualClock(START)
    async with (
        StandIn(symbols=10, rate=2000, seed=1, clock=clock) as exchange,
        aiohttp.ClientSession() as session,
    ):
        await clock.advance(2000)
        for path in ("/admin/delist?symbol=ETHUSDT", "/admin/list?symbol=FRESH1USDT"):
            async with session.post(exchange.rest_url + path) as resp:
                assert resp.status == 200
        async with session.post(f"{exchange.rest_url}/admin/delist?symbol=NOPE") as resp:
            assert resp.status == 404
        async with session.post(f"{exchange.rest_url}/admin/faults?spec=boom=1") as resp:
            assert resp.status == 400
        registry = await _registry(session, exchange)
        assert "FRESH1USDT" in registry and "ETHUSDT" not in registry
        await clock.advance(20_000)
        async with session.get(f"{exchange.rest_url}/fapi/v1/aggTrades?symbol=FRESH1USDT") as resp:
            assert len(await resp.json()) > 0
        async with session.get(
            f"{exchange.rest_url}/fapi/v1/aggTrades?symbol=ETHUSDT&limit=1"
        ) as resp:
            last_eth = (await resp.json())[0]["T"]
        assert START < last_eth < START + 2000


async def test_replay_delivers_the_recorded_frames() -> None:
    clock = ManualClock(START)
    async with (
        StandIn(
            replay=sample("cryptofeed_BINANCE_FUTURES.ws.1.0.raw.txt"), speed=100, clock=clock
        ) as exchange,
        aiohttp.ClientSession() as session,
    ):
        registry = await _registry(session, exchange)
        assert {"SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"} <= set(registry.symbols)
        streams = "sushiusdt@aggTrade/ctkusdt@kline_1m"
        ws = await session.ws_connect(f"{exchange.ws_url}/market/stream?streams={streams}")
        await _ready(ws)
        await clock.advance(1000)
        got = _texts(await _drain(ws))
        expected = [
            f
            for f in cryptofeed_ws_frames()
            if orjson.loads(f)["stream"] in ("sushiusdt@aggTrade", "ctkusdt@kline_1m")
        ]
        assert got == expected and len(got) > 10
        await ws.close()


def test_thread_runner_serves_from_its_own_loop() -> None:
    with StandInThread(symbols=5, rate=50, seed=1) as exchange:
        with urllib.request.urlopen(f"{exchange.rest_url}/fapi/v1/exchangeInfo") as resp:
            info = orjson.loads(resp.read())
        assert len(info["symbols"]) == 7  # 5 trading + the SETTLING and PENDING ones
        exchange.call(exchange.standin.delist_symbol, "BTCUSDT")
        with urllib.request.urlopen(f"{exchange.rest_url}/fapi/v1/exchangeInfo") as resp:
            status = {s["symbol"]: s["status"] for s in orjson.loads(resp.read())["symbols"]}
        assert status["BTCUSDT"] == "SETTLING"


@pytest.mark.slow
def test_cli_prints_the_urls_and_stops_after_duration() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "simulate",
            "--port",
            "0",
            "--symbols",
            "5",
            "--rate",
            "20",
            "--duration",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[0]
    assert line.startswith("rest: http://127.0.0.1:") and " ws: ws://127.0.0.1:" in line
    bad = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "simulate", "--faults", "boom=1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "unknown fault" in bad.stderr
