"""The generated market, checked against independent references (Decimal, naive loops, groupby)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from pipelines.binance.contracts import PERPETUAL, parse_exchange_info
from pipelines.records.timeunits import DAY_MS
from pipelines.standin.bars import SYNTHETIC_DAYS, intraday_bars
from pipelines.standin.frames import Formats
from pipelines.standin.market import Market

START = 1_791_382_980_000  # a minute boundary


def _run(market: Market, seconds: float) -> tuple[np.ndarray, np.ndarray, list]:
    steps = market.advance_to(market.start_ms + int(seconds * 1000))
    trades = np.concatenate([s.trades for s in steps])
    nq = np.concatenate([s.nq for s in steps])
    return trades, nq, steps


@pytest.fixture(scope="module")
def minute_run() -> tuple[Market, np.ndarray, np.ndarray, list]:
    # Without whales: their volume is deliberately not part of the synthetic daily history.
    market = Market(60, 1500.0, 7, start_ms=START, whales_per_s=0.0)
    trades, nq, steps = _run(market, 60)
    return market, trades, nq, steps


def test_whales_reach_half_a_percent_of_daily_notional() -> None:
    market = Market(60, 1500.0, 7, start_ms=START, whales_per_s=0.5)
    trades, _, _ = _run(market, 60)
    notional = (
        trades["price"] * market.tick[trades["sym"]] * trades["qty"] * market.step[trades["sym"]]
    )
    key = trades["sym"].astype(np.int64) * 10**13 * 2 + trades["time"] * 2 + trades["buyer_maker"]
    _, order = np.unique(key, return_inverse=True)
    per_order = np.bincount(order, weights=notional)
    sym_of_order = np.zeros(len(per_order), dtype=np.int64)
    sym_of_order[order] = trades["sym"]
    daily = market.mean_notional * market.order_rate * 86_400
    share = per_order / daily[sym_of_order]
    whales = int((share >= 0.004).sum())
    assert 10 <= whales <= 60  # about 30 expected in 60 s at 0.5/s


def test_same_seed_same_trades_and_another_seed_differs() -> None:
    a, _, _ = _run(Market(40, 800.0, 3, start_ms=START), 3)
    b, _, _ = _run(Market(40, 800.0, 3, start_ms=START), 3)
    c, _, _ = _run(Market(40, 800.0, 4, start_ms=START), 3)
    assert len(a) > 1000
    np.testing.assert_array_equal(a, b)
    assert len(a) != len(c) or not np.array_equal(a["price"], c["price"])


def test_ids_are_consecutive_per_symbol_and_raw_ids_chain(minute_run) -> None:
    _, trades, _, _ = minute_run
    for sym in np.unique(trades["sym"]):
        rows = trades[trades["sym"] == sym]
        assert np.all(np.diff(rows["agg_id"]) == 1)
        assert np.all(rows["last_id"] >= rows["first_id"])
        assert np.all(rows["first_id"][1:] == rows["last_id"][:-1] + 1)
        assert np.all(np.diff(rows["time"]) >= 0)


def test_wire_prices_and_sizes_lie_on_the_grid(minute_run) -> None:
    market, trades, nq, _ = minute_run
    frames = Formats(market).agg_trades(trades[::7], nq[::7], combined=False)
    import orjson

    for frame in frames:
        data = orjson.loads(frame)
        spec = market.contracts[market.index(data["s"])].spec
        assert (Decimal(data["p"]) / Decimal(spec.tick_size)) % 1 == 0, data
        assert (Decimal(data["q"]) / Decimal(spec.step_size)) % 1 == 0, data
        assert Decimal(data["p"]) > 0 and Decimal(data["q"]) > 0
        assert Decimal(data["nq"]) <= Decimal(data["q"])


def test_sweeps_fill_consecutive_levels_at_one_time(minute_run) -> None:
    _, trades, _, _ = minute_run
    frame = pd.DataFrame({k: trades[k] for k in ("sym", "agg_id", "time", "price", "buyer_maker")})
    sweeps = 0
    for (_, _, seller), group in frame.groupby(["sym", "time", "buyer_maker"]):
        if len(group) < 3:
            continue
        steps = np.diff(group["price"].to_numpy())
        ids = np.diff(group["agg_id"].to_numpy())
        # A taker buy lifts successive asks (prices up); a taker sell hits bids (down).
        if np.all(ids == 1) and np.all(steps == (-1 if seller else 1)):
            sweeps += 1
    assert sweeps >= 5


def test_sizes_are_heavy_tailed_and_btc_eth_dominate(minute_run) -> None:
    market, trades, _, _ = minute_run
    notional = (
        trades["price"] * market.tick[trades["sym"]] * trades["qty"] * market.step[trades["sym"]]
    )
    assert notional.max() / np.median(notional) > 100
    counts = np.bincount(trades["sym"], minlength=len(market.contracts))
    assert counts[0] == counts.max() and counts[1] > np.median(counts) * 5
    # The mean rate over the minute is the configured one, within the burstiness.
    assert 0.5 * 1500 < len(trades) / 60 < 1.5 * 1500


def test_force_order_snapshot_keeps_the_latest_per_symbol_and_second() -> None:
    market = Market(30, 3000.0, 11, start_ms=START)
    all_liqs, pushed = [], []
    for second in range(1, 121):
        steps = market.advance_to(START + second * 1000)
        all_liqs.extend(s.liquidations for s in steps)
        pushed.append(market.force_order_snapshot(START + second * 1000))
    every = np.concatenate(all_liqs)
    sent = np.concatenate(pushed)
    assert len(every) > len(sent) > 5
    expected = {}
    for liq in every:  # naive reference: the last one generated in each (symbol, second)
        expected[(int(liq["sym"]), int(liq["time"]) // 1000)] = liq
    got = {(int(liq["sym"]), int(liq["time"]) // 1000): liq for liq in sent}
    assert len(got) == len(sent)  # at most one per symbol per second
    assert got.keys() == expected.keys()
    for key, liq in got.items():
        assert liq["time"] == expected[key]["time"]
        assert liq["filled_qty"] == expected[key]["filled_qty"]


def test_liquidations_are_fills_of_the_aggtrade_tape() -> None:
    market = Market(20, 3000.0, 5, start_ms=START)
    trades, _, steps = _run(market, 30)
    liqs = np.concatenate([s.liquidations for s in steps])
    assert len(liqs) > 0
    for liq in liqs[:20]:
        same = trades[
            (trades["sym"] == liq["sym"])
            & (trades["time"] == liq["time"])
            & (trades["buyer_maker"] == liq["sell"])
        ]
        assert same["qty"].sum() >= liq["filled_qty"]


def test_listing_and_delisting_change_what_trades() -> None:
    market = Market(20, 2000.0, 2, start_ms=START)
    market.advance_to(START + 1000)
    market.delist_symbol("ETHUSDT")
    market.list_symbol("NEWCOIN1USDT")
    trades, _, _ = _run(market, 20)
    trades = trades[trades["time"] >= START + 1000]
    eth, new = market.index("ETHUSDT"), market.index("NEWCOIN1USDT")
    assert not np.any(trades["sym"] == eth)
    assert np.any(trades["sym"] == new)
    info = market.exchange_info(START)
    status = {s["symbol"]: s["status"] for s in info["symbols"]}
    assert status["ETHUSDT"] == "SETTLING" and status["NEWCOIN1USDT"] == "TRADING"
    listed = {s.symbol for s in parse_exchange_info(info)}
    assert "NEWCOIN1USDT" in listed and "ETHUSDT" not in listed


def test_universe_has_the_contract_kinds_a_screener_must_handle() -> None:
    market = Market(600, 100.0, 1, start_ms=START)
    info = market.exchange_info(START)
    kinds = {s["contractType"] for s in info["symbols"]}
    assert {"PERPETUAL", "TRADIFI_PERPETUAL", "CURRENT_QUARTER"} <= kinds
    symbols = {s["symbol"] for s in info["symbols"]}
    assert {"BTCUSDT", "ETHUSDT", "币安人生USDT", "BTCUSDT_261225"} <= symbols
    perps = parse_exchange_info(info, contract_types=(PERPETUAL,))
    assert 580 <= len(perps) <= 600
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    tick = next(f for f in btc["filters"] if f["filterType"] == "PRICE_FILTER")["tickSize"]
    assert tick == "0.10" and btc["pricePrecision"] == 2
    differ = [
        s
        for s in info["symbols"]
        if s["pricePrecision"]
        != -Decimal(next(f for f in s["filters"] if f["filterType"] == "PRICE_FILTER")["tickSize"])
        .normalize()
        .as_tuple()
        .exponent
    ]
    assert len(differ) >= 5


def test_minute_klines_match_a_groupby_of_the_trades(minute_run) -> None:
    market, trades, _, _ = minute_run
    sym = 0
    rows = trades[trades["sym"] == sym]
    frame = pd.DataFrame(
        {
            "minute": rows["time"] // 60_000,
            "price": rows["price"],
            "qty": rows["qty"],
            "fills": rows["last_id"] - rows["first_id"] + 1,
            "buy_qty": rows["qty"] * ~rows["buyer_maker"],
        }
    )
    ref = frame.groupby("minute").agg(
        open=("price", "first"),
        high=("price", "max"),
        low=("price", "min"),
        close=("price", "last"),
        volume=("qty", "sum"),
        trades=("fills", "sum"),
        taker=("buy_qty", "sum"),
    )
    now = int(trades["time"].max())
    bars = intraday_bars(market.spans, sym, 1, START, now, int(market.anchor[sym]))
    got = pd.DataFrame(
        {
            "open": bars.open,
            "high": bars.high,
            "low": bars.low,
            "close": bars.close,
            "volume": bars.volume,
            "trades": bars.trades,
            "taker": bars.taker_volume,
        },
        index=bars.open_time // 60_000,
    )
    pd.testing.assert_frame_equal(got.loc[ref.index], ref, check_names=False, check_dtype=False)


def test_daily_klines_cover_60_days_with_volume_near_the_live_rate(minute_run) -> None:
    market, trades, _, _ = minute_run
    now = int(trades["time"].max())
    days = market.daily.day_bars(0, now // DAY_MS, market.minutes)
    assert len(days) == SYNTHETIC_DAYS + 1
    assert np.all(days.open_time % DAY_MS == 0)
    assert np.all((days.low <= days.open) & (days.open <= days.high))
    assert np.all((days.low <= days.close) & (days.close <= days.high))
    btc = trades[trades["sym"] == 0]
    live_per_day = (
        float((btc["price"] * btc["qty"]).sum() * market.tick[0] * market.step[0]) / 60 * 86_400
    )
    adv = days.quote[:-1].mean()
    assert live_per_day / 3 < adv < live_per_day * 3


def test_rest_history_answers_from_id_with_the_generated_trades(minute_run) -> None:
    market, trades, _, _ = minute_run
    btc = trades[trades["sym"] == 0]
    start = int(btc["agg_id"][100])
    rows = market.history.query(0, from_id=start, limit=250)
    np.testing.assert_array_equal(rows["agg_id"], btc["agg_id"][100:350])
    np.testing.assert_array_equal(rows["price"], btc["price"][100:350])
    window = market.history.query(
        0, start_time=int(btc["time"][10]), end_time=int(btc["time"][40]), limit=1000
    )
    mask = (btc["time"] >= btc["time"][10]) & (btc["time"] <= btc["time"][40])
    np.testing.assert_array_equal(window["agg_id"], btc["agg_id"][mask])
    assert market.history.query(0, from_id=int(btc["agg_id"][-1]) + 1).size == 0


def test_history_retention_drops_old_trades() -> None:
    market = Market(10, 2000.0, 1, start_ms=START, retention_s=5, max_trades=10**9)
    market.advance_to(START + 30_000)
    kept = market.history.symbol_trades(0)
    assert kept["time"].min() >= START + 30_000 - 6_000
    capped = Market(10, 2000.0, 1, start_ms=START, max_trades=5_000)
    capped.advance_to(START + 30_000)
    assert len(capped.history) <= 5_000 + 2_000  # the cut is made per whole second
