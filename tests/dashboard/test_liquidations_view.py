"""LiquidationsView: feed rows, totals and histogram against plain loops over the pushed rows."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pandas as pd

from dashboard.liquidations import LiquidationsView, histogram_rectangles
from pipelines.engine.service import Engine
from tests.dashboard.feed import Feed


def make(now: int) -> tuple[Engine, Feed, np.ndarray]:
    engine = Engine()
    feed = Feed(engine)
    rows = np.concatenate([feed.liquidations(now - k * 600_000, 5) for k in range(30)])  # 5 h
    asyncio.run(feed.push(feed.trades(now - 1000, now, 3), rows))
    return engine, feed, rows


def test_feed_and_filter_match_pushed_rows() -> None:
    now = int(time.time() * 1000)
    engine, feed, rows = make(now)
    view = LiquidationsView(engine=engine)
    view.__panel__()
    shown = view.feed.value
    assert len(shown) == len(rows)
    np.testing.assert_allclose(np.sort(shown["notional"]), np.sort(rows["notional"]))
    view.min_notional = 10_000
    assert sorted(view.feed.value["notional"]) == sorted(
        float(n) for n in rows["notional"] if n >= 10_000
    )
    # New rows are streamed on the next refresh, filtered the same way.
    more = feed.liquidations(now + 10, 20)
    asyncio.run(feed.push(feed.trades(now, now + 20, 3), more))
    view.refresh_feed()
    want = [float(n) for n in np.r_[rows["notional"], more["notional"]] if n >= 10_000]
    assert sorted(view.feed.value["notional"]) == sorted(want)


def test_totals_equal_loop_sums() -> None:
    now = int(time.time() * 1000)
    engine, _, rows = make(now)
    view = LiquidationsView(engine=engine)
    view.__panel__()
    totals = view.totals.value.set_index("window")
    for window, hours in (("1h", 1), ("4h", 4), ("12h", 12), ("24h", 24)):
        inside = [r for r in rows if now - hours * 3_600_000 < r["time"] <= now]
        longs = sum(float(r["notional"]) for r in inside if r["long_liquidated"])
        shorts = sum(float(r["notional"]) for r in inside if not r["long_liquidated"])
        assert totals.loc[window, "long"] == pytest_approx(longs)
        assert totals.loc[window, "short"] == pytest_approx(shorts)
        assert totals.loc[window, "count"] == len(inside)
    ranking = view.ranking.value
    assert list(ranking["total"]) == sorted(ranking["total"], reverse=True)


def test_histogram_shorts_up_longs_down() -> None:
    minute = 60_000 * 1000
    hist = pd.DataFrame(
        {
            "minute": [minute, minute + 60_000],
            "long_notional": [5.0, 0.0],
            "short_notional": [0.0, 7.0],
        }
    )
    rects = histogram_rectangles(hist).dframe()
    assert list(rects["y1"]) == [7.0, -5.0]
    assert rects["x0"].iloc[0] >= minute + 60_000 and rects["x1"].iloc[0] <= minute + 120_000


def pytest_approx(value: float):
    import pytest

    return pytest.approx(value, rel=1e-12, abs=1e-6)
