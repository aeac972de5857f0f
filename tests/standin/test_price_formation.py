"""Prices formed by the flow, checked against the real BTCUSDT capture of 2024-08-08.

The reference statistics are computed here from the recorded `@trade` frames (hftbacktest):
over 10-second buckets, the correlation between the taker buy-minus-sell share of the volume
and the price change, and the size of the touch relative to the median trade.
"""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from pipelines.standin.market import Market
from tests.samples import SAMPLES

START = 1_791_382_980_000  # a minute boundary
BUCKET_MS = 10_000
BUSIEST = 6


def flow_and_move(
    time: np.ndarray, price: np.ndarray, qty: np.ndarray, buy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per 10 s bucket (after the first): (buy - sell) / total volume, and the change of the
    last price from the previous bucket's, in ticks. Rows in time order."""
    bucket = time // BUCKET_MS
    keys, idx = np.unique(bucket, return_inverse=True)
    share = np.bincount(idx, weights=np.where(buy, qty, -qty)) / np.bincount(idx, weights=qty)
    last = np.zeros(len(keys))
    last[idx] = price  # in time order, the last write per bucket is its last trade
    return share[1:], np.diff(last)


def _real_btc() -> dict[str, np.ndarray]:
    with (SAMPLES / "hftbacktest_2024-08-08_btcusdt_trade.jsonl").open("rb") as fh:
        rows = [orjson.loads(line)["data"] for line in fh]
    rows.sort(key=lambda r: (r["T"], r["t"]))
    return {
        "time": np.array([r["T"] for r in rows]),
        "price": np.array([round(float(r["p"]) * 10) for r in rows], dtype=np.float64),
        "qty": np.array([float(r["q"]) for r in rows]),
        "buy": ~np.array([r["m"] for r in rows]),
    }


@pytest.fixture(
    scope="module",
    params=[(60, 600.0, 3_600), (600, 2000.0, 600)],
    ids=["an hour of 60 contracts", "the demo market (600 contracts, 2000/s), 10 min"],
)
def generated_hour(request) -> tuple[Market, np.ndarray]:
    symbols, rate, seconds = request.param
    market = Market(symbols, rate, 1, start_ms=START)
    steps = market.advance_to(START + seconds * 1000)
    return market, np.concatenate([s.trades for s in steps])


def _busiest(market: Market, trades: np.ndarray):
    counts = np.bincount(trades["sym"], minlength=len(market.contracts))
    for sym in np.argsort(counts)[::-1][:BUSIEST]:
        rows = trades[trades["sym"] == sym]
        rows = rows[np.argsort(rows["time"], kind="stable")]
        yield (
            sym,
            *flow_and_move(
                rows["time"],
                rows["price"].astype(np.float64),
                rows["qty"].astype(np.float64),
                ~rows["buyer_maker"],
            ),
        )


def test_the_real_capture_gives_the_reference_correlation() -> None:
    real = _real_btc()
    share, move = flow_and_move(real["time"], real["price"], real["qty"], real["buy"])
    assert len(share) >= 30
    assert np.corrcoef(share, move)[0, 1] == pytest.approx(0.50, abs=0.01)


def test_flow_share_and_price_change_correlate_like_the_real_market(generated_hour) -> None:
    market, trades = generated_hour
    corrs = [np.corrcoef(share, move)[0, 1] for _, share, move in _busiest(market, trades)]
    # Real captures: 0.50 (BTCUSDT, above) to 0.64 (ETHUSDT, issue #11); the old
    # independent random walk gave 0.26.
    assert min(corrs) >= 0.4, corrs
    assert 0.45 <= float(np.mean(corrs)) <= 0.8, corrs


def test_no_one_sided_bucket_moves_the_other_way(generated_hour) -> None:
    market, trades = generated_hour
    for sym, share, move in _busiest(market, trades):
        against = ((share >= 0.9) & (move <= -10)) | ((share <= -0.9) & (move >= 10))
        assert not against.any(), (market.contracts[sym].symbol, share[against], move[against])


def test_the_touch_holds_what_the_real_touch_holds_in_median_trades() -> None:
    real = _real_btc()
    with (SAMPLES / "hftbacktest_2024-08-08_btcusdt_rest_depth_snapshot.jsonl").open("rb") as f:
        snapshot = orjson.loads(f.readline())
    real_touch = (float(snapshot["bids"][0][1]) + float(snapshot["asks"][0][1])) / 2
    real_ratio = real_touch / np.median(real["qty"])  # about 124

    market = Market(60, 600.0, 1, start_ms=START)
    touch = []
    trades = []
    for second in range(1, 121):
        trades.extend(s.trades for s in market.advance_to(START + second * 1000))
        book = market.book(0, 5, START + second * 1000)
        touch.append((book.bid_qty[0] + book.ask_qty[0]) / 2)
    btc = np.concatenate(trades)
    ratio = np.mean(touch) / np.median(btc["qty"][btc["sym"] == 0])
    assert real_ratio / 5 <= ratio <= real_ratio * 5, (ratio, real_ratio)


def test_a_sweep_fills_the_levels_the_book_showed() -> None:
    market = Market(60, 600.0, 3, start_ms=START)
    checked = 0
    for step in range(1, 2400):
        now = START + step * 50
        books = {s: market.book(s, 60, now - 50) for s in range(len(market.contracts))}
        (produced,) = market.advance_to(now)
        trades = produced.trades
        for sym in np.unique(trades["sym"]):
            rows = trades[trades["sym"] == sym]
            first = rows[rows["time"] == rows["time"][0]]
            first = first[first["buyer_maker"] == first["buyer_maker"][0]]
            # Another order at the same millisecond starts again where this one stopped.
            step_dir = -1 if first["buyer_maker"][0] else 1
            run = np.flatnonzero(np.diff(first["price"]) != step_dir)
            first = first[: run[0] + 1] if len(run) else first
            if len(first) < 4:
                continue
            side = books[sym].bid_qty if first["buyer_maker"][0] else books[sym].ask_qty
            # The first row takes what is left at the touch, the last a part of its level:
            # the levels in between are consumed whole, as deep as the book showed them.
            inner = first["qty"][1:-1][: len(side) - 1]
            np.testing.assert_allclose(inner, side[1 : len(inner) + 1], rtol=0.06)
            checked += 1
    assert checked >= 20
