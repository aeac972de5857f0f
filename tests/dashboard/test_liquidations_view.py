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


def test_capped_seconds_are_marked_and_loud_ones_beep() -> None:
    now = int(time.time() * 1000) // 1000 * 1000 - 5_000  # whole seconds, in the past
    engine = Engine()
    feed = Feed(engine)
    first = feed.liquidations(now, 1)
    first["sym"] = 0
    asyncio.run(feed.push(feed.trades(now - 10, now, 3), first))
    view = LiquidationsView(engine=engine, alert_notional=1.0)
    view.__panel__()
    assert list(view.feed.value["cap"]) == [""]
    # The same contract a second later (streamed in the next batch): that second is capped;
    # another contract in that second is not.
    later = feed.liquidations(now + 1000, 2)
    later["sym"] = [0, 1]
    later["long_liquidated"] = [False, False]
    asyncio.run(feed.push(feed.trades(now, now + 10, 3), later))
    view.refresh_feed()
    caps = dict(zip(view.feed.value["seq"], view.feed.value["cap"], strict=True))
    assert [caps[k] for k in sorted(caps)] == ["", "≥", ""]
    assert view.beeper.count == 1 and view.beeper.side == "buy"  # shorts liquidated: high
    view.refresh_charts()
    totals = view.totals.value.set_index("window")
    # Over all rows held, both seconds of contract 0 are capped.
    capped = float(first["notional"][0] + later["notional"][0])
    total = float(first["notional"].sum() + later["notional"].sum())
    assert np.isclose(totals.loc["1h", "capped"], 100 * capped / total)


def test_an_idle_refresh_sends_no_table_update() -> None:
    """With nothing liquidated, a refresh changes no cell, so no patch reaches the browser
    (a patch landing on a table still being built, as after a tab switch, breaks Tabulator)."""
    view = LiquidationsView(engine=Engine())
    view.__panel__()
    sent: list[tuple[str, dict]] = []
    for name in ("totals", "ranking"):
        table = getattr(view, name)
        table.patch = lambda patch, name=name, **kw: sent.append((name, patch))
    view.refresh_charts()
    view.refresh_charts()
    assert sent == []
    assert view.totals.value["capped"].dtype == np.float64
