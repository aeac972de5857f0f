"""Trade-flow and book imbalance: pure functions against plain loops, the tracker against the pure
functions for any batch split, and real recorded trades and depth."""

from __future__ import annotations

import json
from decimal import Decimal
from itertools import chain

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.analytics.book_imbalance import book_band_imbalance, book_imbalance, book_imbalances
from pipelines.analytics.imbalance import (
    WINDOWS,
    ImbalanceTracker,
    cvd_per_minute,
    imbalance_heatmap,
    trade_flow_imbalance,
)
from pipelines.binance.archive import read_agg_trades_csv, trades_from_frame
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.parsers import parse_depth
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.batch import BookTop
from pipelines.records.dtypes import TRADE_DTYPE
from pipelines.records.timeunits import MINUTE_MS as MINUTE
from tests.analytics.strategies import BTC, ETH, as_frame, splits, tapes
from tests.samples import sample

APPROX_CSV = "DERIVED_APPROX_BTCUSDT-aggTrades-2024-08-08_2354-0000UTC_from_ws_trade.csv"


def naive_flow(frame: pd.DataFrame, now_ms: int, minutes: int) -> dict[str, dict]:
    """Per symbol: Decimal taker quote volumes and counts over the minute-aligned window."""
    out: dict[str, dict] = {}
    m_now = now_ms // 60_000
    for row in frame.itertuples():
        if not m_now - minutes <= row.transact_time // 60_000 <= m_now:
            continue
        acc = out.setdefault(row.symbol, {"buy": Decimal(0), "sell": Decimal(0), "nb": 0, "ns": 0})
        quote = Decimal(repr(row.price)) * Decimal(repr(row.quantity))
        if row.is_buyer_maker:
            acc["sell"] += quote
            acc["ns"] += 1
        else:
            acc["buy"] += quote
            acc["nb"] += 1
    return out


def _two_symbol_frame(btc, eth) -> pd.DataFrame:
    return pd.concat(
        [as_frame(btc, BTC).assign(symbol="BTCUSDT"), as_frame(eth, ETH).assign(symbol="ETHUSDT")],
        ignore_index=True,
    )


@settings(max_examples=50, deadline=None)
@given(tapes(sym=0), tapes(sym=1), st.integers(0, 40 * 60_000))
def test_flow_equals_a_plain_loop_and_stays_in_range(btc, eth, offset):
    frame = _two_symbol_frame(btc, eth)
    now = int(frame["transact_time"].min()) + offset
    flow = trade_flow_imbalance(frame, now)  # grids inferred from the data
    for window, minutes in WINDOWS.items():
        ref = naive_flow(frame, now, minutes)
        got = flow[flow["window"] == window].set_index("symbol")
        assert set(got.index) == set(ref)
        for symbol, acc in ref.items():
            row = got.loc[symbol]
            assert row["buy_quote"] == float(acc["buy"])
            assert row["sell_quote"] == float(acc["sell"])
            assert (row["buy_trades"], row["sell_trades"]) == (acc["nb"], acc["ns"])
            expected = (acc["buy"] - acc["sell"]) / (acc["buy"] + acc["sell"])
            assert row["imbalance"] == pytest.approx(float(expected), abs=1e-12)
            assert -1.0 <= row["imbalance"] <= 1.0


@settings(max_examples=40, deadline=None)
@given(tapes(sym=0, max_trades=80), tapes(sym=1, max_trades=80), st.data())
def test_tracker_equals_pure_functions_for_any_batch_split(btc, eth, data):
    registry = SymbolRegistry([BTC])  # ETH is listed later: the tracker grows
    tracker = ImbalanceTracker(registry, history_minutes=90)
    tape = np.concatenate([btc, eth])
    tape = tape[np.argsort(tape["time"], kind="stable")]
    for batch in np.split(tape, data.draw(splits(len(tape)))):
        if len(registry) == 1 and (batch["sym"] == 1).any():
            registry.add(ETH)
        tracker.update(batch)
    frame = _two_symbol_frame(btc, eth)
    now = int(tape["time"].max()) + data.draw(st.integers(0, 20 * 60_000))
    pdt.assert_frame_equal(tracker.flow(now), trade_flow_imbalance(frame, now, specs=registry))
    minutes = data.draw(st.integers(1, 90))
    heat = tracker.heatmap(now, minutes)
    pdt.assert_frame_equal(heat, imbalance_heatmap(frame, now, minutes=minutes, specs=registry))
    values = heat.to_numpy()
    assert np.all(np.isnan(values) | ((values >= -1) & (values <= 1)))
    single = as_frame(btc, BTC)
    pdt.assert_frame_equal(
        tracker.cvd("BTCUSDT", now, minutes), cvd_per_minute(single, now, minutes=minutes)
    )
    assert tracker.late_trades == 0


def test_windows_are_minute_aligned_plus_the_current_minute():
    spec = ContractSpec("XUSDT", "1", "1")
    base = 1_000 * 60_000
    frame = pd.DataFrame(
        {
            "symbol": "XUSDT",
            "price": [10.0, 10.0, 10.0, 10.0],
            "quantity": [1.0, 2.0, 4.0, 8.0],
            # minute -2 (outside 1m), minute -1 (inside 1m), the current minute twice
            "transact_time": [base - 90_000, base - 30_000, base + 1, base + 59_000],
            "is_buyer_maker": [False, True, False, False],
        }
    )
    flow = trade_flow_imbalance(frame, base + 10, specs={"XUSDT": spec}).set_index("window")
    # 1m: the previous complete minute + the current one (all its trades received).
    assert flow.loc["1m", "buy_quote"] == 120.0 and flow.loc["1m", "sell_quote"] == 20.0
    assert flow.loc["5m", "buy_quote"] == 130.0
    assert flow.loc["1m", "imbalance"] == pytest.approx(100 / 140)
    empty = trade_flow_imbalance(frame, base + 3 * 3_600_000, specs={"XUSDT": spec})
    assert empty.empty  # no flow: no row (the heatmap shows NaN)
    heat = imbalance_heatmap(frame, base + 10, minutes=3, specs={"XUSDT": spec})
    assert np.isnan(heat.iloc[0, 0]) and heat.iloc[0, 1] == 1.0 and heat.iloc[0, 2] == -1.0


def test_tracker_drops_trades_of_minutes_already_reused_and_unknown_symbols():
    registry = SymbolRegistry([BTC])
    tracker = ImbalanceTracker(registry, history_minutes=60)
    recent = trades_from_frame(read_agg_trades_csv(sample(APPROX_CSV)), BTC)[:10].copy()
    tracker.update(recent)
    old = recent[:2].copy()
    old["time"] -= 61 * 60_000  # maps onto a slot a newer minute holds
    tracker.update(old)
    assert tracker.late_trades == 2
    stranger = recent[:1].copy()
    stranger["sym"] = 5
    tracker.update(stranger)
    assert tracker.unknown_symbol_trades == 1
    with pytest.raises(ValueError, match="exceed"):
        tracker.heatmap(int(recent["time"].max()), 61)
    with pytest.raises(ValueError, match="unknown window"):
        tracker.ranking(0, "2m")


def test_real_btcusdt_trades_tracker_ranking_and_cvd():
    frame = read_agg_trades_csv(sample(APPROX_CSV))
    registry = SymbolRegistry([ETH, BTC])
    tracker = ImbalanceTracker(registry)
    for batch in np.array_split(trades_from_frame(frame, BTC, sym=1), 17):
        tracker.update(batch)
    now = int(frame["transact_time"].max())
    ref = naive_flow(frame.assign(symbol="BTCUSDT"), now, 5)["BTCUSDT"]
    ranking = tracker.ranking(now, "5m")
    assert ranking["symbol"].tolist() == ["BTCUSDT"]
    assert ranking.loc[0, "buy_quote"] == float(ref["buy"])
    assert ranking.loc[0, "sell_quote"] == float(ref["sell"])
    assert np.isnan(ranking.loc[0, "book_imbalance"])  # no book seen yet
    cvd = tracker.cvd("BTCUSDT", now, 10)
    sold = frame["is_buyer_maker"].to_numpy()
    steps = BTC.qty_to_steps(frame["quantity"].to_numpy())
    assert BTC.qty_to_steps(cvd["cvd"].iloc[-1]) == steps[~sold].sum() - steps[sold].sum()


def test_book_imbalance_on_real_depth():
    body = json.loads(sample("polyoxide_2026-10-07/rest_depth_limit5.json").read_text())
    book = parse_depth(body, 0)
    bids = [(Decimal(p), Decimal(q)) for p, q in body["bids"]]
    asks = [(Decimal(p), Decimal(q)) for p, q in body["asks"]]
    for n in (1, 3, 5):
        b = sum(q for _, q in sorted(bids, reverse=True)[:n])
        a = sum(q for _, q in sorted(asks)[:n])
        assert book_imbalance(book, n) == pytest.approx(float((b - a) / (b + a)), abs=1e-12)
    mid = (max(p for p, _ in bids) + min(p for p, _ in asks)) / 2
    for bps in (0.01, 0.05, 1.0):
        band = Decimal(str(bps)) / Decimal(10_000)
        b = sum(q for p, q in bids if p >= mid * (1 - band))
        a = sum(q for p, q in asks if p <= mid * (1 + band))
        assert book_band_imbalance(book, bps) == pytest.approx(float((b - a) / (b + a)), abs=1e-12)
    registry = SymbolRegistry([BTC])
    older = BookTop(0, book.event_time - 1, ("1.0", "9.0"), ("2.0", "1.0"))
    table = book_imbalances([book, older], registry, levels=5, band_bps=1.0)
    assert table.loc[0, "event_time"] == book.event_time
    tracker = ImbalanceTracker(registry, book_levels=5, band_bps=1.0)
    tracker.update_books([book, older])
    trades = trades_from_frame(read_agg_trades_csv(sample(APPROX_CSV)), BTC)
    tracker.update(trades)
    ranking = tracker.ranking(int(trades["time"].max()))
    assert ranking.loc[0, "book_imbalance"] == book_imbalance(book, 5)
    assert ranking.loc[0, "band_imbalance"] == book_band_imbalance(book, 1.0)


def test_book_imbalance_edge_cases():
    empty = BookTop(0, 0, (), ("10.0", "1.0"))
    assert np.isnan(book_band_imbalance(empty, 10))
    assert book_imbalance(empty, 5) == -1.0
    nothing = BookTop(0, 0, (), ())
    assert np.isnan(book_imbalance(nothing, 5))
    with pytest.raises(ValueError, match="levels"):
        book_imbalance(empty, 0)


def _naive_book(bids: list, asks: list, levels: int, band_bps: float) -> tuple[float, float]:
    """Both book imbalances of one book in Decimal, from the levels as received."""
    b = sorted(((Decimal(p), Decimal(q)) for p, q in bids if Decimal(q) > 0), reverse=True)
    a = sorted((Decimal(p), Decimal(q)) for p, q in asks if Decimal(q) > 0)

    def ratio(x: Decimal, y: Decimal) -> float:
        return float((x - y) / (x + y)) if x + y > 0 else float("nan")

    top = ratio(
        sum((q for _, q in b[:levels]), Decimal(0)), sum((q for _, q in a[:levels]), Decimal(0))
    )
    if not b or not a:
        return top, float("nan")
    mid, k = (b[0][0] + a[0][0]) / 2, Decimal(str(band_bps)) / Decimal(10_000)
    band = ratio(
        sum((q for p, q in b if p >= mid * (1 - k)), Decimal(0)),
        sum((q for p, q in a if p <= mid * (1 + k)), Decimal(0)),
    )
    return top, band


def test_many_books_read_at_once_equal_each_book_alone():
    """The tracker converts and computes every pending book in one pass; each equals its own
    Decimal computation, whatever the other books' depths, empty levels or malformed sides."""
    rng = np.random.default_rng(5)
    registry = SymbolRegistry([ContractSpec(f"C{i}USDT", "0.01", "0.001") for i in range(40)])
    tracker = ImbalanceTracker(registry, book_levels=5, band_bps=20.0)
    books, expected = [], {}
    for sym in range(40):
        mid = rng.uniform(1, 500)
        bids, asks = (
            [
                [f"{mid + sign * rng.uniform(0, mid / 400):.4f}", f"{q:.3f}"]
                for q in rng.choice([0.0, 0.5, 2.0, 7.0], int(rng.integers(0, 21)))
            ]
            for sign in (-1, 1)
        )
        if sym == 7:
            bids = [["not a price", "1"]]  # reads as an empty side
            odd = BookTop(sym, 1, ("1.0",), ())  # so does a side of an odd length
            assert book_imbalance(odd, 5) != book_imbalance(odd, 5)  # NaN: nothing on either
            expected[sym] = _naive_book([], asks, 5, 20.0)
        else:
            expected[sym] = _naive_book(bids, asks, 5, 20.0)
        books.append(BookTop(sym, 1, tuple(chain(*bids)), tuple(chain(*asks))))
    tracker.update_books(books)
    tracker._settle_books()
    for sym, (top, band) in expected.items():
        got = tracker._book[sym, :2]
        np.testing.assert_allclose(got, [top, band], rtol=0, atol=1e-12, equal_nan=True)
        alone = (book_imbalance(books[sym], 5), book_band_imbalance(books[sym], 20.0))
        np.testing.assert_array_equal(got, alone)


def test_each_contracts_first_live_minute_is_whole_from_its_kline():
    """ETH's stream was subscribed a minute after BTC's, during minute 1: the engine saw only
    that minute's end. Its kline makes the minute whole; minutes the engine saw whole stay."""
    registry = SymbolRegistry([BTC, ETH])
    tracker = ImbalanceTracker(registry, history_minutes=60)
    t0 = 1_790_000_000_000 // MINUTE * MINUTE

    def trade(sym: int, at: int, price_ticks: int, qty: int, sold: bool) -> np.ndarray:
        row = np.zeros(1, TRADE_DTYPE)
        row[["sym", "time", "price", "qty", "buyer_maker"]] = (sym, at, price_ticks, qty, sold)
        return row

    tracker.update(np.concatenate([trade(0, t0 + 1_000, 100_000, 5, False),
                                   trade(0, t0 + MINUTE + 1_000, 100_000, 5, True)]))  # fmt: skip
    tracker.update(trade(1, t0 + MINUTE + 50_000, 300_000, 2, False))  # ETH: the end of minute 1
    tracker.update(trade(0, t0 + 2 * MINUTE + 1_000, 100_000, 1, False))
    assert tracker.first_live_minute(0) == t0 // MINUTE
    assert tracker.first_live_minute(1) == t0 // MINUTE + 1

    def klines(opens, quote, taker_quote, volume, taker_volume) -> pd.DataFrame:
        opens = np.array(opens)
        return pd.DataFrame({"open_time": opens, "close_time": opens + MINUTE - 1,
                             "quote_volume": quote, "taker_buy_quote_volume": taker_quote,
                             "volume": volume, "taker_buy_volume": taker_volume,
                             "trades": [9] * len(opens)})  # fmt: skip

    # ETH's minutes 0 and 1 whole: 0 before its stream, 1 with the trades before it.
    eth = klines([t0, t0 + MINUTE], [900.0, 1500.0], [300.0, 1200.0], [0.3, 0.5], [0.1, 0.4])
    assert tracker.fill_from_klines(1, eth, t0 + 3 * MINUTE) == 2
    # BTC's minute 1 was seen whole by the engine: its kline (here different) is not taken.
    btc = klines([t0 + MINUTE], [99.0], [0.0], [0.099], [0.0])
    assert tracker.fill_from_klines(0, btc, t0 + 3 * MINUTE) == 0
    heat = tracker.heatmap(t0 + 2 * MINUTE + 5_000, 2)
    assert heat.loc["ETHUSDT", t0] == pytest.approx((300 - 600) / 900)
    assert heat.loc["ETHUSDT", t0 + MINUTE] == pytest.approx((1200 - 300) / 1500)
    assert heat.loc["BTCUSDT", t0 + MINUTE] == -1.0  # the engine's own: one taker sell
