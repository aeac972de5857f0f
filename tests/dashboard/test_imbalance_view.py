"""ImbalanceView: rankings, heatmap image and CVD against independent computations."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from dashboard.imbalance import ImbalanceView, heatmap_image, ranking_tables


def test_rankings_equal_a_loop_over_trades(fed) -> None:
    engine, _, now = fed
    view = ImbalanceView(engine=engine, window="15m", min_volume=0)
    view.__panel__()
    buyers, sellers = view.rankings(now)
    m_now = now // 60_000
    flows = {}
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        spec = engine.registry.spec(symbol)
        buy = sell = 0.0
        for t in engine.trades(symbol, (m_now - 15) * 60_000, None):
            quote = float(spec.ticks_to_price(t["price"])) * float(spec.steps_to_qty(t["qty"]))
            if t["buyer_maker"]:
                sell += quote
            else:
                buy += quote
        flows[symbol] = (buy - sell) / (buy + sell)
    shown = pd.concat([buyers, sellers]).set_index("symbol")["imbalance"]
    for symbol, value in flows.items():
        assert shown[symbol] == pytest.approx(value, rel=1e-9)
    assert list(buyers["imbalance"]) == sorted(buyers["imbalance"], reverse=True)
    assert (sellers["imbalance"] < 0).all()


def test_min_volume_filters_rankings() -> None:
    ranking = pd.DataFrame(
        {
            "symbol": ["A", "B", "C"], "imbalance": [0.5, -0.2, 0.9],
            "buy_quote": [750.0, 400.0, 95.0], "sell_quote": [250.0, 600.0, 5.0],
            "delta_quote": [500.0, -200.0, 90.0], "buy_trades": [3, 2, 1], "sell_trades": [1, 3, 0],
            "book_imbalance": [0.1, np.nan, 0.3],
        }
    )  # fmt: skip
    buyers, sellers = ranking_tables(ranking, "5m", 500.0)
    assert list(buyers["symbol"]) == ["A"] and list(sellers["symbol"]) == ["B"]
    buyers, _ = ranking_tables(ranking, "5m", 0.0)
    assert list(buyers["symbol"]) == ["C", "A"]


def test_heatmap_rows_keep_symbol_order() -> None:
    frame = pd.DataFrame([[0.5, np.nan], [-1.0, 0.25]], index=["AAA", "BBB"], columns=[0, 60_000])
    image, names = heatmap_image(frame)
    assert names == ["AAA", "BBB"]
    assert image.dimension_values("imbalance", flat=False).shape == (2, 2)
    assert image[30_000, 0] == 0.5 and image[90_000, 1] == 0.25  # row 0 is the first contract


def test_click_selects_and_shows_cvd(fed) -> None:
    engine, _, _ = fed
    view = ImbalanceView(engine=engine)
    view.__panel__()
    view.selected = "ETHUSDT"
    sent = view.cvd_pipe.data
    m_now = int(time.time() * 1000) // 60_000
    spec = engine.registry.spec("ETHUSDT")
    delta = np.zeros(61)
    for t in engine.trades("ETHUSDT", (m_now - 60) * 60_000, None):
        qty = float(spec.steps_to_qty(t["qty"]))
        delta[int(t["time"]) // 60_000 - (m_now - 60)] += -qty if t["buyer_maker"] else qty
    np.testing.assert_allclose(sent["cvd"].to_numpy(), np.cumsum(delta), atol=1e-9)
    assert "ETHUSDT" in view._cvd_title.object


def test_minutes_from_klines_are_marked_before_the_first_live_minute(fed) -> None:
    engine, _, now = fed
    view = ImbalanceView(engine=engine)
    view.__panel__()
    assert view.kline_note() == ""  # only the engine's own trades so far
    tracker = engine.analytics.imbalance
    sym = engine.registry.index("BTCUSDT")
    first = tracker.first_minute * 60_000
    # Two minutes before the engine's first, and the first, of which the engine saw only the
    # end: a kline each (quote and taker-buy quote).
    opens = np.array([first - 120_000, first - 60_000, first])
    klines = pd.DataFrame(
        {
            "open_time": opens, "close_time": opens + 59_999,
            "quote_volume": [1000.0, 500.0, 2000.0], "taker_buy_quote_volume": [800.0, 100.0, 500.0],
            "volume": [0.02, 0.01, 0.04], "taker_buy_volume": [0.016, 0.002, 0.01],
            "trades": [10, 4, 30],
        }
    )  # fmt: skip
    assert tracker.fill_from_klines(sym, klines, now) == 3
    since = time.strftime("%H:%M", time.gmtime((first + 60_000) / 1000))
    assert view.kline_note() == f"before {since} UTC: 1m klines · no book, no big orders"
    heat = tracker.heatmap(now, 60).loc["BTCUSDT"]
    assert heat[first - 120_000] == pytest.approx((800 - 200) / 1000)
    assert heat[first - 60_000] == pytest.approx((100 - 400) / 500)
    assert heat[first] == pytest.approx((500 - 1500) / 2000)  # the whole minute, not its end
    assert tracker.is_from_klines("BTCUSDT", opens).all()
    assert not tracker.is_from_klines("BTCUSDT", np.array([first + 60_000])).any()
