"""The generated past (`--history`): REST aggTrades, klines, ticker and the archive agree.

References are naive recomputations from the served trades (per-minute aggregation in plain
Python, sha256 from hashlib, the real data.binance.vision header and number style).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from decimal import Decimal

import aiohttp
import numpy as np
import pytest

from pipelines.standin.clock import ManualClock
from pipelines.standin.market import Market
from pipelines.standin.server import StandIn
from tests.samples import SAMPLES

DAY = 86_400_000
# Start mid-day, so the history holds one complete UTC day and parts of two others.
START = 1_791_331_200_000 + 7 * 3_600_000 + 12_345  # 2026-10-07 07:00:12.345 UTC
HISTORY_S = 36 * 3600


def _market(seed: int = 5) -> Market:
    return Market(12, 60.0, seed, start_ms=START, history_ms=HISTORY_S * 1000)


def test_the_past_is_deterministic_and_a_function_of_the_minute() -> None:
    a, b, c = _market(), _market(), _market(seed=6)
    minute = START // 60_000 - 100
    rows_a = a.past.minute_trades(3, minute)
    # Asked in another order (another minute first) the same minute is the same.
    b.past.minute_trades(3, minute - 500)
    np.testing.assert_array_equal(rows_a, b.past.minute_trades(3, minute))
    assert len(rows_a) > 0
    assert not np.array_equal(rows_a["price"][:5], c.past.minute_trades(3, minute)["price"][:5])


def test_ids_chain_from_the_past_into_the_present() -> None:
    market = _market()
    market.advance_to(START + 30_000)
    for sym in np.flatnonzero(market.active).tolist():
        first_live = int(market.live_first_agg[sym])
        rows = market.agg_trades(sym, from_id=first_live - 50, limit=100)
        assert np.all(np.diff(rows["agg_id"]) == 1)
        assert np.all(rows["first_id"][1:] == rows["last_id"][:-1] + 1)
        assert np.all(np.diff(rows["time"]) >= 0)
        before = rows[rows["agg_id"] < first_live]
        assert len(before) == 50 and before["time"].max() < market.start_ms
        # The past ends where the present begins: its last price is the start's book.
        assert abs(int(before["price"][-1]) - int(rows["price"][50])) <= 50


def test_paging_by_id_and_by_time_give_the_same_trades() -> None:
    market = _market()
    t0 = START - 3 * 3_600_000
    by_time = []
    start = t0
    while start < t0 + 3_600_000:  # one-hour windows, pages of 1000, as a backfill would
        page = market.agg_trades(sym := 2, start_time=start, end_time=t0 + 3_600_000, limit=1000)
        if len(page) == 0:
            break
        by_time.append(page)
        start = int(page["time"][-1]) + 1 if len(page) < 1000 else int(page["time"][-1])
    rows = np.unique(np.concatenate(by_time))  # pages may overlap on a shared millisecond
    by_id = []
    next_id = int(rows["agg_id"][0])
    while next_id <= rows["agg_id"][-1]:
        page = market.agg_trades(sym, from_id=next_id, limit=1000)
        by_id.append(page)
        next_id = int(page["agg_id"][-1]) + 1
    ids = np.concatenate(by_id)
    ids = ids[ids["agg_id"] <= rows["agg_id"][-1]]
    np.testing.assert_array_equal(ids, rows)
    assert np.all(np.diff(rows["agg_id"]) == 1)


def _kline_by_hand(trades: list[dict]) -> tuple:
    prices = [Decimal(t["p"]) for t in trades]
    qty = sum(Decimal(t["q"]) for t in trades)
    taker = sum(Decimal(t["q"]) for t in trades if not t["m"])
    count = sum(t["l"] - t["f"] + 1 for t in trades)
    return prices[0], max(prices), min(prices), prices[-1], qty, count, taker


@pytest.fixture
async def exchange():
    clock = ManualClock(START)
    async with (
        StandIn(symbols=12, rate=60.0, seed=5, clock=clock, history_s=HISTORY_S) as ex,
        aiohttp.ClientSession() as http,
    ):
        await clock.advance(120_000)
        yield ex, http


async def _get(http, ex, path: str, **params):
    async with http.get(ex.rest_url + path, params=params) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


@pytest.mark.parametrize("before_start_ms", [5 * 3_600_000, 20 * 60_000])
async def test_klines_are_the_trades_aggregated_past_and_present(exchange, before_start_ms):
    ex, http = exchange
    symbol = ex.market.contracts[4].symbol
    minute = (START - before_start_ms) // 60_000 * 60_000
    klines = await _get(
        http, ex, "/fapi/v1/klines", symbol=symbol, interval="1m", startTime=minute, limit=30
    )
    checked = 0
    live = 0
    for k in klines:
        trades = await _get(
            http, ex, "/fapi/v1/aggTrades", symbol=symbol, startTime=k[0], endTime=k[6],
            limit=1000,
        )  # fmt: skip
        assert len(trades) < 1000  # the whole minute
        if not trades:
            continue
        o, h, lo, c, v, n, tv = _kline_by_hand(trades)
        assert (Decimal(k[1]), Decimal(k[2]), Decimal(k[3]), Decimal(k[4])) == (o, h, lo, c)
        assert (Decimal(k[5]), k[8], Decimal(k[9])) == (v, n, tv)
        quote = sum(Decimal(t["p"]) * Decimal(t["q"]) for t in trades)
        taker_quote = sum(Decimal(t["p"]) * Decimal(t["q"]) for t in trades if not t["m"])
        assert (Decimal(k[7]), Decimal(k[10])) == (quote, taker_quote)
        checked += 1
        live += k[0] >= START
    assert checked >= 20
    assert live > 0 if before_start_ms < 30 * 60_000 else live == 0


async def test_ticker_24h_agrees_with_the_klines_of_its_window(exchange) -> None:
    ex, http = exchange
    symbol = ex.market.contracts[1].symbol
    ticker = await _get(http, ex, "/fapi/v1/ticker/24hr", symbol=symbol)
    now = ex.clock.now_ms()
    bars = []
    start = now - DAY + 1
    while start <= now:
        page = await _get(
            http, ex, "/fapi/v1/klines", symbol=symbol, interval="1m", startTime=start, limit=1500
        )
        bars += [b for b in page if b[0] > now - DAY - 60_000]
        start = page[-1][0] + 60_000
    traded = [b for b in bars if b[8] > 0 and b[0] >= (now - DAY) // 60_000 * 60_000]
    assert Decimal(ticker["highPrice"]) == max(Decimal(b[2]) for b in traded)
    assert Decimal(ticker["lowPrice"]) == min(Decimal(b[3]) for b in traded)
    volume = sum(Decimal(b[5]) for b in traded)
    assert float(ticker["volume"]) == pytest.approx(float(volume), rel=0.002)  # edge minute


async def test_without_history_the_ticker_spans_todays_part_before_the_start() -> None:
    clock = ManualClock(START)
    async with (
        StandIn(symbols=12, rate=60.0, seed=5, clock=clock) as ex,
        aiohttp.ClientSession() as http,
    ):
        await clock.advance(5_000)
        symbol = ex.market.contracts[0].symbol
        ticker = await _get(http, ex, "/fapi/v1/ticker/24hr", symbol=symbol)
        days = await _get(http, ex, "/fapi/v1/klines", symbol=symbol, interval="1d", limit=2)
    # The window (now - 24 h, now] holds all of today so far: its extremes bound today's.
    today = days[-1]
    assert Decimal(ticker["highPrice"]) >= Decimal(today[2])
    assert Decimal(ticker["lowPrice"]) <= Decimal(today[3])


REAL_ROW = re.compile(r"^\d+,\d+(\.\d*[1-9])?,\d+(\.\d*[1-9])?,\d+,\d+,\d{13},(true|false)$")


async def test_the_archive_serves_complete_days_like_data_binance_vision(exchange) -> None:
    ex, http = exchange
    real = SAMPLES / "BTCUSDT-aggTrades-2025-10-22_first6rows_data.binance.vision.csv"
    real_lines = real.read_text().splitlines()
    assert all(REAL_ROW.match(line) for line in real_lines[1:])  # the pattern fits the real
    symbol = ex.market.contracts[5].symbol
    day = "2026-10-06"  # the only complete UTC day in the 36 h before 2026-10-07 07:00
    name = f"{symbol}-aggTrades-{day}.zip"
    base = f"{ex.rest_url}/data/futures/um/daily/aggTrades/{symbol}/"
    async with http.get(base + name) as resp:
        assert resp.status == 200
        data = await resp.read()
    async with http.get(base + name + ".CHECKSUM") as resp:
        text = await resp.text()
    assert text.strip() == f"{hashlib.sha256(data).hexdigest()}  {name}"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == [name.replace(".zip", ".csv")]
        lines = zf.read(zf.namelist()[0]).decode().splitlines()
    assert lines[0] == real_lines[0]
    assert all(REAL_ROW.match(line) for line in lines[1:])
    rows = list(csv.DictReader(lines))
    day_ms = 1_791_244_800_000
    assert int(rows[0]["transact_time"]) >= day_ms and int(rows[-1]["transact_time"]) < day_ms + DAY
    # The same trades as REST aggTrades, by id.
    rest = await _get(
        http, ex, "/fapi/v1/aggTrades", symbol=symbol, fromId=rows[0]["agg_trade_id"], limit=1000
    )
    for row, trade in zip(rows, rest, strict=False):
        assert int(row["agg_trade_id"]) == trade["a"]
        assert Decimal(row["price"]) == Decimal(trade["p"])
        assert Decimal(row["quantity"]) == Decimal(trade["q"])
        assert (int(row["first_trade_id"]), int(row["last_trade_id"])) == (trade["f"], trade["l"])
        assert int(row["transact_time"]) == trade["T"]
        assert row["is_buyer_maker"] == ("true" if trade["m"] else "false")
    # The day before and the start day are incomplete: not archived.
    for other in ("2026-10-05", "2026-10-07", "2026-13-01"):
        async with http.get(f"{base}{symbol}-aggTrades-{other}.zip") as resp:
            assert resp.status == 404
