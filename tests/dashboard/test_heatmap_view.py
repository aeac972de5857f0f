"""The liquidity heatmap: its source's numbers against naive references (raster over stored
seconds and live samples, tick grouping, the dollar filters, bubbles, profile, colour limits)
and the view drawn empty and with data."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from decimal import Decimal

import holoviews as hv
import numpy as np
import pytest

from dashboard.heatmap import HeatmapView
from dashboard.heatmap_chart import image_patch
from pipelines.analytics.heatmap import (
    bucket_for,
    colour_limits,
    filter_levels,
    group_for,
    min_product,
    trade_bubbles,
    volume_profile,
)
from pipelines.analytics.localbook import BookLevels
from pipelines.engine.books import BookView
from pipelines.engine.heatmap_source import Geometry, HeatmapSource
from pipelines.engine.service import Engine
from pipelines.records.dtypes import TRADE_DTYPE
from tests.dashboard.feed import SPECS, Feed

BTC = SPECS[0]  # tick 0.10, step 0.001
T0 = 1_700_000_000_000  # a whole minute
MID = 650_000  # ticks


def random_book(rng, mid: int, spread: int = 1) -> BookLevels:
    bids = np.column_stack([mid - spread - np.arange(40)[::-1] * 2, rng.integers(1, 5000, 40)])
    asks = np.column_stack([mid + np.arange(40) * 2, rng.integers(1, 5000, 40)])
    return BookLevels(bids.astype(np.int64), asks.astype(np.int64), (mid - 200, mid + 200))


class Stand:
    """The engine's book for one contract: stored seconds and a current book (replaced)."""

    def __init__(self, engine: Engine, seconds: list[tuple[int, BookLevels]]) -> None:
        self.seconds = seconds
        self.now: BookView | None = None
        engine.order_books.history = self.history
        engine.order_books.current = lambda symbol: self.now if symbol == "BTCUSDT" else None

    def history(self, symbol, start_ms, end_ms):
        return [(t, lv) for t, lv in self.seconds if start_ms <= t < end_ms], BTC

    def set_now(self, time_ms: int, levels: BookLevels, synced: bool = True) -> None:
        self.now = BookView("BTCUSDT", BTC, levels, synced, time_ms)


@pytest.fixture
def market():
    engine = Engine()
    feed = Feed(engine)
    rng = np.random.default_rng(4)
    seconds = [(T0 + (i + 1) * 1000, random_book(rng, MID + i % 7)) for i in range(120)]
    stand = Stand(engine, seconds)
    return engine, feed, stand, rng


def naive_cells(states, start, end, bucket, low, high, group, least=0):
    """{(column, row): (max bid, max ask)} by loops over every level."""
    cells: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for t, levels in states:
        column = (t - 1 - start) // bucket
        if not 0 <= column < (end - start) // bucket:
            continue
        sums: dict[tuple[int, int], int] = defaultdict(int)
        for side, rows in ((0, levels.bids), (1, levels.asks)):
            for price, qty in rows.tolist():
                if price * qty < least or not low <= price <= high:
                    continue
                sums[(side, (price - low) // group)] += qty
        for (side, row), qty in sums.items():
            cell = cells[(column, row)]
            cell[side] = max(cell[side], qty)
    return cells


def frame_cells(frame) -> dict[tuple[int, int], list[int]]:
    out: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for side, grid in ((0, frame.bids), (1, frame.asks)):
        rows, cols = np.nonzero(~np.isnan(grid))
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            out[(c, r)][side] = round(grid[r, c] / BTC.step)
    return out


@pytest.mark.parametrize(("bucket", "group", "usd"), [(1000, 1, 0), (5000, 5, 0), (2000, 2, 400)])
def test_stored_raster_equals_naive_cells(market, bucket, group, usd):
    engine, _, stand, _ = market
    source = HeatmapSource(engine=engine, symbol="BTCUSDT", min_order_usd=usd)
    low, high = MID - 60, MID + 60
    g = Geometry(T0, T0 + 120_000, bucket, low // group * group, high, group)
    frame = source.frame(g)
    least = min_product(usd, BTC)
    top = g.price_low + g.rows * group - 1  # the last row is whole
    want = naive_cells(stand.seconds, T0, T0 + 120_000, bucket, g.price_low, top, group, least)
    assert frame_cells(frame) == {k: v for k, v in want.items() if v != [0, 0]}
    assert frame.covered.all()


def test_live_samples_hold_until_the_next_one(market):
    engine, _, stand, rng = market
    source = HeatmapSource(engine=engine, symbol="BTCUSDT", live_bucket=100)
    books = []
    for i, t in enumerate((T0 + 200_050, T0 + 200_120, T0 + 200_480, T0 + 203_000)):
        books.append((t, random_book(rng, MID + i)))
        stand.set_now(t, books[-1][1])
        assert source.sample()
    assert not source.sample()  # the same book again: nothing new
    g = Geometry(T0 + 200_000, T0 + 203_100, 100, MID - 60, MID + 60, 1)
    frame = source.frame(g)
    # Naive: a bucket shows every sample that stood for the book during it: from its time to
    # the next sample's, for at most a second.
    held = [(t, min(books[i + 1][0] if i + 1 < len(books) else g.end_ms, t + 1000), lv)
            for i, (t, lv) in enumerate(books)]  # fmt: skip
    for column in range(g.columns):
        b = g.start_ms + column * 100
        inside = [lv for t, until, lv in held if t < b + 100 and (until > b or b <= t)]
        want = naive_cells([(b + 1, lv) for lv in inside], b, b + 100, 100, g.price_low,
                           g.price_high, 1)  # fmt: skip
        got = {k[1]: v for k, v in frame_cells(frame).items() if k[0] == column}
        assert got == {k[1]: v for k, v in want.items()}, column
        assert frame.covered[column] == bool(inside)
    # Best bid/ask per bucket: the bucket's last sample.
    assert frame.edges.best_bid[1] == books[1][1].best_bid
    assert frame.edges.best_ask[-1] == books[-1][1].best_ask


def test_geometry_coarsens_with_the_window(market):
    engine, _, stand, _ = market
    source = HeatmapSource(engine=engine, symbol="BTCUSDT", live_bucket=100, tick_group=2)
    stand.set_now(T0 + 10_000, random_book(np.random.default_rng(1), MID))
    source.sample()
    live = source.geometry((T0 + 9_000, T0 + 10_500), (65_000.0, 65_010.0), 1000, 500)
    assert (live.bucket_ms, live.ticks_per_row) == (100, 2)
    six_hours = source.geometry((T0 - 6 * 3_600_000, T0 + 10_500), (60_000.0, 70_000.0), 1000, 500)
    assert six_hours.columns <= 1000 and six_hours.rows <= 500 + 1
    assert bucket_for(3_600_000, 1200, 250) == 5_000 and bucket_for(10_000, 1200, 250) == 250
    assert group_for(100, 500, 1) == 1 and group_for(10_000, 500, 1) == 25


def test_dollar_filters_are_exact():
    assert min_product(1000, BTC) == 10_000_000  # $1000 / (0.10 × 0.001)
    levels = BookLevels(np.array([[100, 99_999], [100, 100_000]]), np.zeros((0, 2), np.int64),
                        (0, 1))  # fmt: skip
    kept = filter_levels(levels, min_product(1000, BTC))
    assert kept.bids.tolist() == [[100, 100_000]]  # 10.0 × 100.000 = $1000 exactly
    rng = np.random.default_rng(2)
    trades = np.zeros(500, dtype=TRADE_DTYPE)
    trades["time"] = np.sort(rng.integers(T0, T0 + 10_000, 500))
    trades["price"] = MID + rng.integers(-30, 30, 500)
    trades["qty"] = rng.integers(1, 3000, 500)
    trades["buyer_maker"] = rng.random(500) < 0.5
    usd = 150.0
    least = min_product(usd, BTC)
    bubbles = trade_bubbles(trades, T0, 1000, MID - 40, 5, least)
    naive: dict[tuple, int] = defaultdict(int)
    for t, p, q, s in zip(trades["time"], trades["price"], trades["qty"], trades["buyer_maker"],
                          strict=True):  # fmt: skip
        if Decimal(int(p)) * Decimal("0.1") * Decimal(int(q)) * Decimal("0.001") >= Decimal(usd):
            naive[(T0 + (t - T0) // 1000 * 1000, MID - 40 + (p - MID + 40) // 5 * 5, bool(s))] += q
    got = {(int(t), int(p), bool(s)): int(q) for t, p, s, q in
           zip(bubbles.time, bubbles.price, bubbles.sell, bubbles.qty, strict=True)}  # fmt: skip
    assert got == dict(naive)
    profile = volume_profile(trades, MID - 40, 16, 5, least)
    for row in range(16):
        in_row = (trades["price"] - (MID - 40)) // 5 == row
        big = trades["price"] * trades["qty"] >= least
        assert profile.buys[row] == trades["qty"][in_row & big & ~trades["buyer_maker"]].sum()
        assert profile.sells[row] == trades["qty"][in_row & big & trades["buyer_maker"]].sum()


def test_colour_limits_and_image_patch():
    grid = np.array([[0, 5, 10], [20, 0, 40]])
    assert colour_limits([grid], 0, 100) == (5, 40)
    assert colour_limits([np.zeros((2, 2), np.int64)]) is None
    old = np.full((3, 4), np.nan)
    new = old.copy()
    new[1, 2], new[0, 3] = 5.0, 6.0
    cols, values = image_patch(old, new)
    assert cols == slice(2, 4)
    np.testing.assert_array_equal(values, [np.nan, 6.0, 5.0, np.nan, np.nan, np.nan])
    assert image_patch(new, new.copy()) is None


def test_view_says_why_it_is_empty_and_draws_data(market):
    engine, feed, stand, rng = market
    view = HeatmapView(engine=engine, symbol="NOPEUSDT")
    view.__panel__()
    assert "unknown contract" in view._empty.object and view._pane.object is None
    view.symbol = "BTCUSDT"
    assert "no order book yet" in view._empty.object
    stand.set_now(T0 + 125_000, BookLevels(np.zeros((0, 2), np.int64), np.zeros((0, 2), np.int64),
                                           (0, 1)), synced=False)  # fmt: skip
    view.refresh()
    assert "syncing" in view._empty.object
    stand.set_now(T0 + 125_000, random_book(rng, MID))
    trades = feed.trades(T0 + 100_000, T0 + 124_000, 300)
    trades["price"][trades["sym"] == 0] = MID + rng.integers(
        -20, 20, int((trades["sym"] == 0).sum())
    )
    asyncio.run(feed.push(trades))
    view.refresh()
    assert not view._empty.visible
    dmap = view._pane.object
    fig = hv.render(dmap)  # the DynamicMap and rasterize draw it
    images = [r for r in fig.renderers if r.glyph.__class__.__name__ == "Image"]
    assert len(images) == 2 and all(
        np.isfinite(r.data_source.data["image"][0]).any() for r in images
    )
    _, frame, _, _ = view._drawn
    assert len(frame.bubbles.time) > 0 and frame.clim is not None


def test_live_tick_patches_the_drawn_image(market):
    engine, _, stand, rng = market
    stand.set_now(T0 + 125_000, random_book(rng, MID))
    view = HeatmapView(engine=engine, symbol="BTCUSDT")
    row = __import__("panel").Row(view)  # embeds on its own
    row.get_root()  # draws, and the view keeps the plot
    geometry = view._drawn[0]
    bids = next(s for s in view._plot.subplots.values() if s.current_frame.group == "Bids")
    before = bids.handles["source"].data["image"][0].copy()
    redraws, patches = view.redraws, view.patches
    stand.set_now(T0 + 127_000, random_book(rng, MID + 1))
    view.refresh()
    assert view.patches == patches + 1 and view.redraws == redraws  # no full redraw
    after = bids.handles["source"].data["image"][0]
    assert after.shape == before.shape and view._drawn[0] == geometry
    changed = np.flatnonzero(~((before == after) | np.isnan(before) & np.isnan(after)).all(axis=0))
    column = (T0 + 127_000 - geometry.start_ms) // geometry.bucket_ms
    assert len(changed) and changed.min() >= column - 1  # only the live edge's columns
