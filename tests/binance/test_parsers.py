"""Parsers against every kind of real recorded payload; values checked with Decimal arithmetic."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pytest

from pipelines.binance.contracts import ContractSpec, parse_exchange_info
from pipelines.binance.parsers import (
    FrameParser,
    parse_agg_trades_rest,
    parse_depth,
    parse_klines,
    parse_ticker_24h,
)
from pipelines.binance.registry import SymbolRegistry
from tests.samples import (
    cryptofeed_http_bodies,
    cryptofeed_ws_frames,
    hftbacktest_frames,
    jsonl_lines,
    sample,
)

# Grids of 2026 (BTCUSDT from the real 2026-10-07 exchangeInfo entry) and of the 2021 capture.
SPECS_2026 = [
    ContractSpec("BTCUSDT", "0.10", "0.001"),
    ContractSpec("ETHUSDT", "0.01", "0.001"),
    ContractSpec("XRPUSDT", "0.0001", "0.1"),
    ContractSpec("IOTXUSDT", "0.00001", "1"),
    ContractSpec("XAUUSDT", "0.01", "0.001"),
    ContractSpec("XAGUSDT", "0.01", "0.001"),
    ContractSpec("XPTUSDT", "0.01", "0.001"),
    ContractSpec("币安人生USDT", "0.0000001", "1"),
]


@pytest.fixture(scope="module")
def registry_2021() -> SymbolRegistry:
    body = json.loads(sample("cryptofeed_2021-07-21_exchangeInfo.json").read_text())
    return SymbolRegistry(parse_exchange_info(body))


def ticks(price: str, tick: str) -> int:
    return int(Decimal(price) / Decimal(tick))


def steps(qty: str, step: str) -> int:
    return int(Decimal(qty) / Decimal(step))


def data_of(frame: str) -> dict | list:
    message = json.loads(frame)
    return message.get("data", message) if isinstance(message, dict) else message


def check_trades(batch: np.ndarray, frames: list[str], registry: SymbolRegistry, id_key: str):
    assert len(batch) == len(frames)
    for row, frame in zip(batch, frames, strict=True):
        d = data_of(frame)
        spec = registry.spec(d["s"])
        assert registry.symbol(row["sym"]) == d["s"]
        assert row["agg_id"] == d[id_key]
        assert row["time"] == d["T"]
        assert row["event_time"] == d["E"]
        assert row["price"] == ticks(d["p"], spec.tick_size)
        assert row["qty"] == steps(d["q"], spec.step_size)
        assert bool(row["buyer_maker"]) is d["m"]


def test_exchange_info_2021_grid_from_price_filter(registry_2021):
    body = json.loads(sample("cryptofeed_2021-07-21_exchangeInfo.json").read_text())
    trading_perps = [
        s["symbol"]
        for s in body["symbols"]
        if s["status"] == "TRADING" and s["contractType"] == "PERPETUAL"
    ]
    assert registry_2021.symbols == trading_perps
    assert len(trading_perps) == 119  # 122 listed: 2 quarterlies and 1 PENDING_TRADING filtered
    for entry in body["symbols"]:
        if entry["symbol"] not in registry_2021:
            continue
        filters = {f["filterType"]: f for f in entry["filters"]}
        spec = registry_2021.spec(entry["symbol"])
        assert Decimal(spec.tick_size) == Decimal(filters["PRICE_FILTER"]["tickSize"])
        assert Decimal(spec.step_size) == Decimal(filters["LOT_SIZE"]["stepSize"])


def test_exchange_info_delivery_contracts_on_request():
    body = json.loads(sample("cryptofeed_2021-07-21_exchangeInfo.json").read_text())
    specs = parse_exchange_info(body, contract_types=("CURRENT_QUARTER",))
    assert [s.symbol for s in specs] == [
        e["symbol"] for e in body["symbols"] if e["contractType"] == "CURRENT_QUARTER"
    ]


def test_exchange_info_2026_tick_is_not_price_precision():
    # Real BTCUSDT entry of 2026-10-07: pricePrecision 2 but tickSize 0.10, filters out of order.
    entry = {
        "symbol": "BTCUSDT", "contractType": "PERPETUAL", "status": "TRADING",
        "quoteAsset": "USDT", "pricePrecision": 2, "quantityPrecision": 3,
        "filters": [
            {"maxPrice": "4529764", "tickSize": "0.10", "filterType": "PRICE_FILTER",
             "minPrice": "556.80"},
            {"stepSize": "0.001", "minQty": "0.001", "maxQty": "1000", "filterType": "LOT_SIZE"},
        ],
    }  # fmt: skip
    [spec] = parse_exchange_info({"symbols": [entry]})
    assert (spec.price_decimals, spec.tick_units, spec.tick) == (1, 1, 0.1)
    assert spec.price_to_ticks(83091.7) == 830917


def test_cryptofeed_aggtrade_frames(registry_2021):
    frames = jsonl_lines("cryptofeed_2021-07-22_aggTrade.jsonl")
    parser = FrameParser(registry_2021)
    batch = parser.parse(frames)
    assert batch.rejected == 0 and batch.filtered == 0
    check_trades(batch.trades, frames, registry_2021, "a")


def test_aggtrade_csvs_match_the_frames(registry_2021):
    """The CSVs are the same frames in the data.binance.vision layout; both routes agree."""
    import pandas as pd

    from pipelines.binance.archive import trades_from_frame

    batch = FrameParser(registry_2021).parse(jsonl_lines("cryptofeed_2021-07-22_aggTrade.jsonl"))
    for symbol in ("AKROUSDT", "CTKUSDT", "KEEPUSDT", "SUSHIUSDT"):
        csv = pd.read_csv(sample(f"cryptofeed_2021-07-22_{symbol}-aggTrades_from_ws.csv"))
        sym = registry_2021.index(symbol)
        from_csv = trades_from_frame(csv, registry_2021.spec(symbol), sym)
        from_ws = batch.trades[batch.trades["sym"] == sym]
        for col in ("agg_id", "first_id", "last_id", "time", "price", "qty", "buyer_maker"):
            np.testing.assert_array_equal(from_csv[col], from_ws[col])


def test_polyoxide_2026_frames_with_new_fields():
    registry = SymbolRegistry(SPECS_2026)
    lines = jsonl_lines("polyoxide_2026-10-07/ws_frames_2026-10-07.jsonl")
    parser = FrameParser(registry)
    batch = parser.parse(lines)
    assert batch.rejected == 0
    by_stream = {json.loads(x)["stream"]: json.loads(x)["data"] for x in lines}

    agg = by_stream["btcusdt@aggTrade"]
    check_trades(batch.trades, [json.dumps(agg)], registry, "a")

    [book] = batch.books
    depth = by_stream["btcusdt@depth20@100ms"]
    assert book.last_update_id == depth["u"] and book.event_time == depth["E"]
    assert book.bid_price.tolist() == [float(p) for p, _ in depth["b"]]
    assert book.ask_qty.tolist() == [float(q) for _, q in depth["a"]]

    [kline] = batch.klines
    k = by_stream["btcusdt@kline_1m"]["k"]
    assert (kline["open_time"], kline["trades"], kline["closed"]) == (k["t"], k["n"], k["x"])
    assert kline["taker_buy_quote_volume"] == float(k["Q"])

    # !ticker@arr carries a COIN-M row (st 2) which must be filtered, not mixed in.
    tickers = by_stream["!ticker@arr"] + [by_stream["btcusdt@ticker"]]
    usd_m = [t for t in tickers if t.get("st", 1) == 1]
    assert sorted(registry.symbol(s) for s in batch.tickers["sym"]) == sorted(t["s"] for t in usd_m)
    assert parser.filtered["COIN-M row"] == 1
    for row in batch.tickers:
        src = next(t for t in usd_m if t["s"] == registry.symbol(row["sym"]))
        assert row["quote_volume"] == float(src["q"]) and row["trades"] == src["n"]

    [bt] = batch.book_tickers
    src = by_stream["btcusdt@bookTicker"]
    assert (bt["bid"], bt["ask_qty"]) == (float(src["b"]), float(src["A"]))
    assert parser.ignored["markPriceUpdate"] == 3  # parsed, not used by the screener


def test_force_order_frames():
    registry = SymbolRegistry(SPECS_2026)
    lines = jsonl_lines("forceOrder_real_frames.jsonl")
    batch = FrameParser(registry).parse(lines)
    assert batch.rejected == 0
    assert len(batch.liquidations) == len(lines)
    for row, line in zip(batch.liquidations, lines, strict=True):
        o = data_of(line)["o"]
        assert registry.symbol(row["sym"]) == o["s"]
        assert bool(row["long_liquidated"]) is (o["S"] == "SELL")
        assert row["price"] == float(o["ap"]) and row["qty"] == float(o["z"])
        assert row["notional"] == pytest.approx(float(Decimal(o["ap"]) * Decimal(o["z"])))
        assert row["time"] == o["T"]


def test_force_order_2026_shape_with_ps_st():
    registry = SymbolRegistry(SPECS_2026)
    frame = (
        '{"e":"forceOrder","E":1791435250143,"o":{"s":"XRPUSDT","S":"BUY","o":"LIMIT","f":"IOC",'
        '"q":"15.4","p":"1.4111","ap":"1.4043","X":"FILLED","l":"15.4","z":"15.4",'
        '"T":1791435249136,"ps":"XRPUSDT","st":1}}'
    )
    [row] = FrameParser(registry).parse([frame]).liquidations
    assert not row["long_liquidated"] and row["notional"] == pytest.approx(1.4043 * 15.4)


def test_hftbacktest_trade_frames():
    registry = SymbolRegistry(SPECS_2026)
    lines = jsonl_lines("hftbacktest_2024-08-08_btcusdt_trade.jsonl")
    batch = FrameParser(registry).parse(lines)
    assert batch.rejected == 0 and len(batch.trades) == 0
    check_trades(batch.raw_trades, lines, registry, "t")
    assert np.all(np.diff(batch.raw_trades["agg_id"]) == 1)  # contiguous ids, as recorded


def test_hftbacktest_capture_every_frame():
    registry = SymbolRegistry(SPECS_2026)
    frames = hftbacktest_frames()
    parser = FrameParser(registry)
    batch = parser.parse(frames)
    # One line of the capture is a REST depth snapshot; everything else is a stream frame.
    assert batch.rejected == 1
    assert [reason for reason in parser.rejections.by_reason] == ["no event type"]
    assert len(batch.raw_trades) == 21313
    assert len(batch.books) == 6551
    assert len(batch.book_tickers) == 66089


def test_depth_frames_2021_and_2024(registry_2021):
    lines = jsonl_lines("cryptofeed_2021-07-22_depthUpdate_100ms.jsonl")
    batch = FrameParser(registry_2021).parse(lines)
    assert batch.rejected == 0 and len(batch.books) == len(lines)
    for book, line in zip(batch.books, lines, strict=True):
        d = data_of(line)
        assert registry_2021.symbol(book.sym) == d["s"] and book.last_update_id == d["u"]
        assert book.bid_qty.tolist() == [float(q) for _, q in d["b"]]
        assert book.ask_price.tolist() == [float(p) for p, _ in d["a"]]

    registry = SymbolRegistry(SPECS_2026)
    lines = jsonl_lines("hftbacktest_2024-08-08_btcusdt_depth_0ms.first1500.jsonl")
    batch = FrameParser(registry).parse(lines)
    assert batch.rejected == 0
    assert [b.last_update_id for b in batch.books] == [data_of(x)["u"] for x in lines]


def test_kline_and_book_ticker_frames_2021(registry_2021):
    lines = jsonl_lines("cryptofeed_2021-07-22_kline_1m.jsonl")
    batch = FrameParser(registry_2021).parse(lines)
    assert batch.rejected == 0 and len(batch.klines) == len(lines)
    for row, line in zip(batch.klines, lines, strict=True):
        k = data_of(line)["k"]
        assert row["volume"] == float(k["v"]) and row["taker_buy_volume"] == float(k["V"])
        assert row["close"] == float(k["c"]) and row["close_time"] == k["T"]
    lines = jsonl_lines("cryptofeed_2021-07-22_bookTicker.jsonl")
    batch = FrameParser(registry_2021).parse(lines)
    assert batch.rejected == 0 and len(batch.book_tickers) == len(lines)


def test_raw_cryptofeed_capture_all_frames(registry_2021):
    frames = cryptofeed_ws_frames()
    batch = FrameParser(registry_2021).parse(frames)
    assert batch.rejected == 0
    assert (len(batch.trades), len(batch.books), len(batch.klines), len(batch.book_tickers)) == (
        91, 764, 67, 613,
    )  # fmt: skip


def test_rest_depth_snapshots(registry_2021):
    bodies = list(cryptofeed_http_bodies())
    assert len(bodies) == 4
    for url, body in bodies:
        symbol = url.split("symbol=")[1].split("&")[0]
        book = parse_depth(body, registry_2021.index(symbol))
        assert book.last_update_id == body["lastUpdateId"]
        assert len(book.bid_price) == len(body["bids"]) > 0
        assert book.bid_price[0] == float(body["bids"][0][0])
        assert np.all(np.diff(book.bid_price) < 0) and np.all(np.diff(book.ask_price) > 0)
    jsonl = [json.loads(x) for x in jsonl_lines("cryptofeed_2021-07-22_rest_depth_snapshots.jsonl")]
    assert [b["body"] for b in jsonl] == [b for _, b in bodies]
    [snap] = [
        json.loads(x)
        for x in jsonl_lines("hftbacktest_2024-08-08_btcusdt_rest_depth_snapshot.jsonl")
    ]
    book = parse_depth(snap, 0)
    assert book.last_update_id == 5123107852948 and book.ask_price[0] == float(snap["asks"][0][0])


def test_rest_polyoxide_answers():
    registry = SymbolRegistry(SPECS_2026)
    body = json.loads(sample("polyoxide_2026-10-07/rest_agg_trades.json").read_text())
    rows = parse_agg_trades_rest(body, registry.index("BTCUSDT"), registry)
    assert rows["agg_id"].tolist() == [r["a"] for r in body]
    assert rows["price"].tolist() == [ticks(r["p"], "0.10") for r in body]
    assert rows["qty"].tolist() == [steps(r["q"], "0.001") for r in body]
    assert rows["buyer_maker"].tolist() == [r["m"] for r in body]

    klines = parse_klines(
        json.loads(sample("polyoxide_2026-10-07/rest_klines_1m_limit2.json").read_text())
    )
    assert klines["open_time"].tolist() == [1791382920000, 1791382980000]
    assert klines["quote_volume"].tolist() == [8514292.6122, 875630.543]
    assert klines["trades"].tolist() == [4409, 801]

    depth = json.loads(sample("polyoxide_2026-10-07/rest_depth_limit5.json").read_text())
    book = parse_depth(depth, 0)
    assert book.bid_price.tolist() == [float(p) for p, _ in depth["bids"]]

    tickers = parse_ticker_24h(
        json.loads(sample("polyoxide_2026-10-07/rest_ticker_24hr_3rows.json").read_text())
    )
    assert tickers.set_index("symbol")["quoteVolume"].to_dict() == {
        "XAUUSDT": 2241110732.05, "币安人生USDT": 3427981.55024, "BTCUSDT": 14378633588.65,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"a":1,"s":"BTCUS', "invalid JSON"),
        (b'{"e":"aggTrade","E":1,"a":1,"s":"BTCUSDT","p":"x","q":"1","f":1,"l":1,"T":1,"m":true}', "ValueError"),
        (b'{"e":"aggTrade","E":1,"a":1,"s":"BTCUSDT","q":"1","f":1,"l":1,"T":1,"m":true}', "KeyError"),
        (b'{"e":"aggTrade","E":1,"a":1,"s":"BTCUSDT","p":"-1","q":"1","f":1,"l":1,"T":1,"m":true}', "out of range"),
        (b'{"e":"aggTrade","E":1,"a":"1","s":"BTCUSDT","p":"1","q":"1","f":1,"l":1,"T":1,"m":true}', "not an integer"),
        (b'{"e":"aggTrade","E":1,"a":1,"s":"BTCUSDT","p":"1","q":"1","f":1,"l":1,"T":1,"m":"no"}', "boolean"),
        (b'{"e":"forceOrder","E":1,"o":{"s":"BTCUSDT","S":"HOLD","ap":"1","z":"1","T":1}}', "side"),
        (b"[1, 2]", "expected an object"),
        (b'{"foo":1}', "no event type"),
        (b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","u":1,"b":"1","a":[]}', "not a list"),
        (b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","u":1,"a":[]}', "KeyError"),
        (b'{"e":"depthUpdate","E":"x","s":"BTCUSDT","u":1,"b":[],"a":[]}', "ValueError"),
    ],
)  # fmt: skip
def test_malformed_frames_are_counted_not_raised(frame, reason):
    registry = SymbolRegistry(SPECS_2026)
    parser = FrameParser(registry)
    good = jsonl_lines("polyoxide_2026-10-07/ws_frames_2026-10-07.jsonl")[0]
    batch = parser.parse([good, frame, good])
    assert batch.rejected == 1 and len(batch.trades) == 2  # neighbours survive
    [(logged_reason, _)] = list(parser.rejections.by_reason.items())
    assert reason in logged_reason


def test_unknown_symbol_and_coin_m_are_filtered_not_rejected():
    parser = FrameParser(SymbolRegistry(SPECS_2026))
    frames = [
        b'{"e":"aggTrade","E":1,"a":1,"s":"NEWUSDT","p":"1","q":"1","f":1,"l":1,"T":1,"m":true}',
        b'{"e":"aggTrade","E":1,"a":1,"s":"BTCUSD_PERP","p":"1","q":"1","f":1,"l":1,"T":1,"m":true,"st":2}',
        b'{"e":"depthUpdate","E":1,"s":"NEWUSDT","u":1,"b":[["1","2"]],"a":[]}',
        b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","u":1,"b":[["1","2"]],"a":[],"st":2}',
    ]
    batch = parser.parse(frames)
    assert (batch.rejected, batch.filtered, len(batch.trades), len(batch.books)) == (0, 4, 0, 0)
    assert parser.filtered == {"symbol outside the universe": 2, "COIN-M row": 2}


def test_control_replies():
    batch = FrameParser(SymbolRegistry()).parse(
        [b'{"result":null,"id":1}', b'{"error":{"code":4,"msg":"Too many subscriptions"},"id":7}']
    )
    assert [(c.id, c.error_code, c.error_msg) for c in batch.controls] == [
        (1, None, ""), (7, 4, "Too many subscriptions"),
    ]  # fmt: skip
