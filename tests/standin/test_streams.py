"""The stream and endpoint set clients use, field by field against real recorded payloads.

References: the hftbacktest 2024 `@trade` frames, the polyoxide 2026 live frames (markPrice,
depth), the 2021 cryptofeed diff-depth frames, and the real 2026 BTCUSDT exchangeInfo entry
quoted in ../shared/reference/binance-usdm-api.md. Diff depth is checked by rebuilding the
book with Binance's documented procedure and comparing it with the REST book.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import aiohttp
import orjson
import pytest

from pipelines.standin.clock import ManualClock
from pipelines.standin.derivatives import FUNDING_PERIOD_MS
from pipelines.standin.server import StandIn
from tests.samples import SAMPLES, jsonl_lines

START = 1_791_382_980_000
REFERENCE = SAMPLES.parents[1] / "reference" / "binance-usdm-api.md"


def _real(stream_suffix: str, name: str = "polyoxide_2026-10-07/ws_frames_2026-10-07.jsonl"):
    for line in jsonl_lines(name):
        frame = orjson.loads(line)
        if frame["stream"].endswith(stream_suffix):
            return frame["data"]
    raise AssertionError(f"no {stream_suffix} frame in {name}")


def _decimals(text: str) -> int:
    return len(text.partition(".")[2])


def _same_shape(ours: dict, real: dict) -> None:
    """Same keys in the same order, same JSON types, same decimals for numeric strings."""
    assert list(ours) == list(real), (list(ours), list(real))
    for key, value in real.items():
        assert type(ours[key]) is type(value), key


@pytest.fixture
async def exchange():
    clock = ManualClock(START)
    async with (
        StandIn(symbols=20, rate=400.0, seed=2, clock=clock) as ex,
        aiohttp.ClientSession() as http,
    ):
        await clock.advance(2_000)
        yield ex, http, clock


async def _ws(http, ex, route: str, streams: str):
    ws = await http.ws_connect(f"{ex.ws_url}{route}/stream?streams={streams}")
    await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":7}')
    while orjson.loads((await ws.receive(timeout=5)).data).get("id") != 7:
        pass
    return ws


async def _frames(ws, clock: ManualClock, ms: int) -> list[dict]:
    await clock.advance(ms)
    out = []
    while True:
        try:
            msg = await ws.receive(timeout=0.3)
        except TimeoutError:
            return out
        if msg.type != aiohttp.WSMsgType.TEXT:
            return out
        out.append(orjson.loads(msg.data))


async def _get(http, ex, path: str, **params):
    async with http.get(ex.rest_url + path, params=params) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_raw_trades_match_the_real_trade_frames_and_sum_to_the_aggtrades(exchange) -> None:
    ex, http, clock = exchange
    real = _real("@trade", "hftbacktest_2024-08-08_btcusdt_trade.jsonl")
    ws = await _ws(http, ex, "/public", "btcusdt@trade/btcusdt@aggTrade")
    frames = await _frames(ws, clock, 3_000)
    trades = [f["data"] for f in frames if f["stream"] == "btcusdt@trade"]
    aggs = [f["data"] for f in frames if f["stream"] == "btcusdt@aggTrade"]
    assert not aggs  # aggTrade is a /market stream: silent on /public
    assert len(trades) > 50
    for trade in trades:
        _same_shape(trade, real)
        assert _decimals(trade["p"]) == _decimals(real["p"]) and trade["X"] == "MARKET"
    assert [t["t"] for t in trades] == list(range(trades[0]["t"], trades[0]["t"] + len(trades)))
    # The raw trades are the aggTrades' fills: same ids, prices, sides and total quantity.
    rows = await _get(
        http, ex, "/fapi/v1/aggTrades", symbol="BTCUSDT", startTime=trades[0]["T"], limit=1000
    )
    by_id = {t["t"]: t for t in trades}
    for agg in rows:
        fills = [by_id[i] for i in range(agg["f"], agg["l"] + 1) if i in by_id]
        if len(fills) != agg["l"] - agg["f"] + 1:
            continue  # outside the frames received
        assert {(f["p"], f["m"], f["T"]) for f in fills} == {(agg["p"], agg["m"], agg["T"])}
        assert sum(Decimal(f["q"]) for f in fills) == Decimal(agg["q"])
    await ws.close()


async def test_mark_price_streams_and_premium_index_match_the_real_2026_frames(exchange) -> None:
    ex, http, clock = exchange
    real_one = _real("btcusdt@markPrice@1s")
    real_all = _real("!markPrice@arr@1s")
    ws = await _ws(http, ex, "/market", "btcusdt@markPrice@1s/!markPrice@arr@1s/ethusdt@markPrice")
    frames = await _frames(ws, clock, 3_000)
    ones = [f["data"] for f in frames if f["stream"] == "btcusdt@markPrice@1s"]
    arrays = [f["data"] for f in frames if f["stream"] == "!markPrice@arr@1s"]
    slow = [f["data"] for f in frames if f["stream"] == "ethusdt@markPrice"]
    assert len(ones) == 3 and len(arrays) == 3 and len(slow) == 1  # 1 s and 3 s
    for row in [*ones, *arrays[0]]:
        _same_shape(row, real_one)
        for key in ("p", "ap", "P", "i", "r"):
            assert _decimals(row[key]) == _decimals(real_one[key]) == 8, key
        assert row["T"] % FUNDING_PERIOD_MS == 0 and 0 < row["T"] - row["E"] <= FUNDING_PERIOD_MS
    _same_shape(arrays[0][0], real_all[0])
    assert real_one["T"] % FUNDING_PERIOD_MS == 0  # the reference settles on the 8 h grid too
    # The mark follows the flow: within a few basis points of the last trade.
    last = await _get(http, ex, "/fapi/v2/ticker/price", symbol="BTCUSDT")
    premium = await _get(http, ex, "/fapi/v1/premiumIndex", symbol="BTCUSDT")
    assert abs(float(premium["markPrice"]) / float(last["price"]) - 1) < 0.002
    assert premium["markPrice"] == ones[-1]["p"] and premium["lastFundingRate"] == ones[-1]["r"]
    assert premium["nextFundingTime"] == ones[-1]["T"]
    await ws.close()


async def test_diff_depth_rebuilds_the_rest_book_with_binances_procedure(exchange) -> None:
    ex, http, clock = exchange
    real_2021 = orjson.loads(jsonl_lines("cryptofeed_2021-07-22_depthUpdate_100ms.jsonl")[0])[
        "data"
    ]
    real_2026 = _real("@depth20@100ms")
    # 1. Open the stream and buffer; 2. take a snapshot; 3. drop events with u < lastUpdateId;
    # 4. the first event has U <= lastUpdateId <= u; 5. then every pu is the previous u.
    ws = await _ws(http, ex, "/public", "btcusdt@depth@100ms")
    buffered = await _frames(ws, clock, 300)
    snapshot = await _get(http, ex, "/fapi/v1/depth", symbol="BTCUSDT", limit=1000)
    events = [f["data"] for f in buffered + await _frames(ws, clock, 3_000)]
    for event in events:
        _same_shape(event, real_2026)
        assert set(real_2021) <= set(event)
    book = {
        "b": {Decimal(p): q for p, q in snapshot["bids"]},
        "a": {Decimal(p): q for p, q in snapshot["asks"]},
    }
    last = snapshot["lastUpdateId"]
    applied = 0
    prev_u = None
    for event in events:
        if event["u"] < last:
            continue
        if prev_u is None:
            assert event["U"] <= last <= event["u"]
        else:
            assert event["pu"] == prev_u
        prev_u = event["u"]
        for side in ("b", "a"):
            for price, qty in event[side]:
                if Decimal(qty) == 0:
                    book[side].pop(Decimal(price), None)
                else:
                    book[side][Decimal(price)] = qty
        applied += 1
    assert applied >= 5
    now = await _get(http, ex, "/fapi/v1/depth", symbol="BTCUSDT", limit=1000)
    bids = sorted(book["b"].items(), reverse=True)[:1000]
    asks = sorted(book["a"].items())[:1000]
    assert [[str(p), q] for p, q in bids] == [[p, q] for p, q in now["bids"]]
    assert [[str(p), q] for p, q in asks] == [[p, q] for p, q in now["asks"]]
    await ws.close()


async def test_rest_endpoints_agree_with_each_other(exchange) -> None:
    ex, http, clock = exchange
    book = await _get(http, ex, "/fapi/v1/depth", symbol="ETHUSDT", limit=5)
    top = await _get(http, ex, "/fapi/v1/ticker/bookTicker", symbol="ETHUSDT")
    assert list(top) == [
        "symbol", "bidPrice", "bidQty", "askPrice", "askQty", "time", "lastUpdateId"
    ]  # fmt: skip
    assert [top["bidPrice"], top["bidQty"]] == book["bids"][0]
    assert [top["askPrice"], top["askQty"]] == book["asks"][0]
    assert top["lastUpdateId"] == book["lastUpdateId"]
    price = await _get(http, ex, "/fapi/v2/ticker/price", symbol="ETHUSDT")
    ticker = await _get(http, ex, "/fapi/v1/ticker/24hr", symbol="ETHUSDT")
    assert price["price"] == ticker["lastPrice"] == (await _get(
        http, ex, "/fapi/v1/ticker/price", symbol="ETHUSDT"))["price"]  # fmt: skip
    assert Decimal(top["bidPrice"]) <= Decimal(price["price"]) <= Decimal(top["askPrice"])
    everyone = await _get(http, ex, "/fapi/v1/premiumIndex")
    assert {r["symbol"] for r in everyone} >= {"BTCUSDT", "ETHUSDT"}
    funding = await _get(http, ex, "/fapi/v1/fundingRate", symbol="ETHUSDT", limit=3)
    assert [list(r) for r in funding] == [["symbol", "fundingTime", "fundingRate", "markPrice"]] * 3
    times = [r["fundingTime"] for r in funding]
    assert times == sorted(times) and all(t % FUNDING_PERIOD_MS == 0 for t in times)
    assert times[-1] <= clock.now_ms() < times[-1] + FUNDING_PERIOD_MS
    oi = await _get(http, ex, "/fapi/v1/openInterest", symbol="ETHUSDT")
    assert list(oi) == ["openInterest", "symbol", "time"] and Decimal(oi["openInterest"]) > 0
    async with http.get(ex.rest_url + "/fapi/v1/openInterest") as resp:
        assert resp.status == 400 and (await resp.json())["code"] == -1102
    async with http.get(ex.rest_url + "/fapi/v1/fundingRate", params={"limit": "x"}) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == -1100


def _real_btc_entry() -> dict:
    text = Path(REFERENCE).read_text()
    block = re.search(r'```json\n(\{"symbol":"BTCUSDT".*?)\n```', text, re.S)
    assert block is not None
    return orjson.loads(block.group(1).replace("\n", ""))


async def test_exchange_info_uses_binances_values(exchange) -> None:
    ex, http, _ = exchange
    real = _real_btc_entry()
    info = await _get(http, ex, "/fapi/v1/exchangeInfo")
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    assert btc["filters"] == real["filters"]
    assert btc["permissionSets"] == real["permissionSets"]
    kinds = [f["filterType"] for f in real["filters"]]
    for entry in info["symbols"]:
        filters = {f["filterType"]: f for f in entry["filters"]}
        assert list(filters) == kinds, entry["symbol"]
        price = Decimal(filters["PRICE_FILTER"]["minPrice"]) * 140
        lot = Decimal(filters["LOT_SIZE"]["maxQty"])
        # About 80 M USD per order and 10 M per market order at the listing price, like BTC.
        assert Decimal("30e6") < lot * price < Decimal("200e6"), entry["symbol"]
        market_lot = Decimal(filters["MARKET_LOT_SIZE"]["maxQty"])
        assert market_lot < lot and Decimal(filters["MIN_NOTIONAL"]["notional"]) >= 5


async def test_private_route_is_accepted_and_silent(exchange) -> None:
    ex, http, clock = exchange
    ws = await _ws(http, ex, "/private", "btcusdt@aggTrade")
    await ws.send_str('{"method":"SUBSCRIBE","params":["btcusdt@markPrice"],"id":"a1b2"}')
    frames = await _frames(ws, clock, 4_000)
    assert frames == [{"result": None, "id": "a1b2"}]  # string ids, as Binance's SDK sends
    await ws.close()
