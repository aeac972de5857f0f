"""FootprintView: what it hands HoloViews equals a footprint built independently from the trades."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

from dashboard import footprint_glyphs as fg
from dashboard.footprint import FootprintView
from dashboard.footprint_chart import CELL_MAX_BARS, SHADINGS, VolumeImage, main_overlay, raster
from pipelines.analytics.footprint import FootprintRules, auto_bin, footprint_from_records
from pipelines.engine.service import Engine
from tests.dashboard.feed import Feed

MINUTE = 60_000
# Positions of the elements in `main_overlay` (`main_layers` lists them; the numbers come last).
IMAGE, CELLS, LEFT_NUMBERS, RIGHT_NUMBERS = 0, 1, 8, 9


def naive_levels(engine, symbol: str, start: int, bin_ticks: int, tf: int) -> pd.DataFrame:
    """Per (bar, level) taker sell/buy volume by a plain loop over the trades."""
    spec = engine.registry.spec(symbol)
    sums: dict[tuple[int, int], list[int]] = {}
    for t in engine.trades(symbol, start, None):
        key = (int(t["time"]) // tf * tf, int(t["price"]) // bin_ticks)
        cell = sums.setdefault(key, [0, 0])
        cell[0 if t["buyer_maker"] else 1] += int(t["qty"])
    keys = sorted(sums)
    return pd.DataFrame(
        {
            "bar_time": [k[0] for k in keys],
            "price": spec.ticks_to_price(np.array([k[1] * bin_ticks for k in keys])),
            "bid_volume": spec.steps_to_qty(np.array([sums[k][0] for k in keys])),
            "ask_volume": spec.steps_to_qty(np.array([sums[k][1] for k in keys])),
        }
    )


def reference(view: FootprintView, bin_ticks: int, timeframe: str = "1m", ratio: float = 3.0):
    engine, symbol = view.engine, view.symbol
    spec = engine.registry.spec(symbol)
    rules = FootprintRules.make(
        spec, price_bin_ticks=bin_ticks, timeframe=timeframe, imbalance_ratio=ratio
    )
    return footprint_from_records(engine.trades(symbol, view.source.start_ms, None), spec, rules)


def drawn(view: FootprintView, x_range=None) -> tuple[hv.Overlay, object]:
    frame = view.frame(x_range)
    return main_overlay(frame, view.source.big_orders(0, 2**62)), frame


def test_bin_change_reaggregates_from_trades(fed) -> None:
    engine, _, _ = fed
    view = FootprintView(engine=engine, symbol="BTCUSDT", price_bin=5)
    view.__panel__()
    start = view.source.start_ms
    for bin_ticks in (5, 20, 5):
        view.price_bin = bin_ticks
        expected = naive_levels(engine, "BTCUSDT", start, bin_ticks, MINUTE)
        levels, _ = view.source.frames()
        got = levels.sort_values(["bar_time", "price"]).reset_index(drop=True)
        np.testing.assert_array_equal(got["bar_time"], expected["bar_time"])
        np.testing.assert_allclose(got["price"], expected["price"])
        np.testing.assert_allclose(got["bid_volume"], expected["bid_volume"])
        np.testing.assert_allclose(got["ask_volume"], expected["ask_volume"])
        # What the chart holds: one rectangle per non-empty side of every level near the view.
        overlay, frame = drawn(view)
        cells = overlay.get(CELLS).dframe()
        near = expected.merge(frame.levels[["bar_time", "price"]], on=["bar_time", "price"])
        sides = int((near["bid_volume"] > 0).sum() + (near["ask_volume"] > 0).sum())
        assert len(cells) == sides > 0
        bids = cells.groupby(["bar_time", "level"])["bid"].first().sort_index()
        np.testing.assert_allclose(bids.to_numpy(), near["bid_volume"].to_numpy())


def test_bars_match_reference(fed) -> None:
    engine, _, _ = fed
    view = FootprintView(engine=engine, symbol="ETHUSDT", price_bin=10, timeframe="5m")
    view.__panel__()
    ref = reference(view, 10, "5m")
    _, bars = view.source.frames()
    for col in ("bar_time", "open", "high", "low", "close", "volume", "delta", "trades", "poc",
                "value_area_low", "value_area_high", "max_delta", "min_delta"):  # fmt: skip
        np.testing.assert_allclose(
            bars[col].to_numpy(dtype=float), ref.bars[col].to_numpy(dtype=float), err_msg=col
        )
    np.testing.assert_allclose(bars["cvd"], np.cumsum(ref.bars["delta"]))


def test_imbalance_flags_follow_ratio(fed) -> None:
    engine, _, _ = fed
    view = FootprintView(engine=engine, symbol="SOLUSDT", price_bin=2)
    view.__panel__()
    for ratio in (1.5, 4.0):
        view.imbalance_ratio = ratio
        ref = reference(view, 2, ratio=ratio)
        levels, _ = view.source.frames()
        got = levels.sort_values(["bar_time", "price"]).reset_index(drop=True)
        exp = ref.levels.sort_values(["bar_time", "price"]).reset_index(drop=True)
        for col in ("buy_imbalance", "sell_imbalance", "stacked_buy", "stacked_sell"):
            np.testing.assert_array_equal(got[col], exp[col], err_msg=col)


def test_opens_on_the_last_bars_with_their_numbers(fed) -> None:
    engine, _, _ = fed
    view = FootprintView(engine=engine, symbol="BTCUSDT")
    view.__panel__()
    overlay, frame = drawn(view)
    assert frame.draws_numbers
    bars_in_view = (frame.x_range[1] - frame.x_range[0]) / frame.tf_ms
    assert 14 <= bars_in_view <= 18
    expected = frame.levels.sort_values(["bar_time", "price"])
    for position, column in ((LEFT_NUMBERS, "bid_volume"), (RIGHT_NUMBERS, "ask_volume")):
        texts = overlay.get(position).dframe()
        # A number sits mid-level, inside its bar.
        texts = texts.assign(
            bar_time=texts["time"] // MINUTE * MINUTE, level=texts["price"] - frame.level_size / 2
        ).sort_values(["bar_time", "level"])
        assert texts["text"].tolist() == fg.compact(expected[column].to_numpy())
        np.testing.assert_allclose(texts["level"], expected["price"])


def test_live_trades_reach_the_chart(fed) -> None:
    engine, feed, _ = fed
    view = FootprintView(engine=engine, symbol="BTCUSDT", price_bin=5)
    view.__panel__()
    live = view.source.live_start
    version = view.source.version
    asyncio.run(
        feed.push(feed.trades(max(live, int(time.time() * 1000) - 500), live + MINUTE - 1, 300))
    )
    view.refresh()
    assert view.source.version > version
    overlay, _ = drawn(view)
    cells = overlay.get(CELLS).dframe()
    ref = reference(view, 5)
    live_ref = ref.levels[ref.levels["bar_time"] == live]
    live_cells = cells[cells["bar_time"] == live].groupby("level")["ask"].first()
    np.testing.assert_allclose(live_cells.to_numpy(), live_ref["ask_volume"].to_numpy())


def test_mode_changes_cell_geometry(fed) -> None:
    engine, _, _ = fed
    view = FootprintView(engine=engine, symbol="BTCUSDT", price_bin=5)
    view.__panel__()
    view.mode = "delta"
    overlay, frame = drawn(view)
    cells = overlay.get(CELLS).dframe()
    assert len(cells) == len(frame.levels)  # one rectangle per level
    centre = cells["bar_time"] + MINUTE / 2
    buy_side = cells["time"] >= centre
    np.testing.assert_array_equal(buy_side.to_numpy(), (cells["delta"] >= 0).to_numpy())


@pytest.fixture
def three_hours():
    """An unstarted engine with 3 h of BTCUSDT-like trades: more bars than cells can show."""
    engine = Engine()
    feed = Feed(engine)
    now = int(time.time() * 1000)
    asyncio.run(feed.push(feed.trades(now - 180 * MINUTE, now - 1000, 60_000)))
    return engine


def zoomed_out(engine: Engine):
    """A one-tick footprint with every stored bar loaded: (view, levels, bars, their x range)."""
    view = FootprintView(engine=engine, symbol="BTCUSDT", price_bin=1)
    view.source.history_bars = 200
    view.__panel__()
    view.source.load_before(0)
    levels, bars = view.source.frames()
    return (
        view,
        levels,
        bars,
        (float(bars["bar_time"].min()), float(bars["bar_time"].max() + MINUTE)),
    )


def test_many_bars_render_one_image_of_volume_at_price(three_hours) -> None:
    view, levels, bars, x_range = zoomed_out(three_hours)
    assert len(bars) > CELL_MAX_BARS
    shadings = (("ask", "ask_volume"), ("bid", "bid_volume"), ("volume", None), ("delta", None))
    for shading, column in shadings:
        view.shading = shading
        overlay, frame = drawn(view, x_range)
        assert not frame.draws_cells
        assert len(overlay.get(CELLS).dframe()) == 0 and len(overlay.get(LEFT_NUMBERS)) == 0
        image = overlay.get(IMAGE)
        assert image.vdims[0].name == SHADINGS[shading]  # what its hover names
        # One pixel per bar at most (x_sampling): each column of the image is whole bars.
        height, width = image.data[image.vdims[0].name].shape
        assert width <= frame.width_px and height <= frame.height_px
        assert width >= min(len(bars), frame.width_px) - 1
        values = np.nan_to_num(image.dimension_values(2))
        bid, ask = levels["bid_volume"], levels["ask_volume"]
        want = (
            levels[column].sum()
            if column
            else (ask + bid if shading == "volume" else ask - bid).sum()
        )
        assert values.sum() == pytest.approx(float(want), rel=1e-9)
    # Zoomed back in, cells return (numbers too, at a bin that gives readable rows).
    overlay, frame = drawn(view)
    assert frame.draws_cells and len(overlay.get(CELLS).dframe()) > 0
    view.price_bin = 0
    overlay, frame = drawn(view)
    assert frame.draws_numbers and len(overlay.get(LEFT_NUMBERS)) > 0


def test_empty_data_draws_an_empty_chart() -> None:
    engine = Engine()
    Feed(engine)  # contracts listed, no trade yet
    view = FootprintView(engine=engine, symbol="BTCUSDT")
    view.__panel__()
    overlay, frame = drawn(view, (0.0, 3_600_000.0))
    assert len(frame.bars) == 0
    assert all(len(element) == 0 for element in list(overlay)[1:])
    assert raster(frame).data is not None
    assert "no trades yet" in view._info.object


def test_auto_bin_fits_the_span_in_readable_rows() -> None:
    assert auto_bin(0) == auto_bin(39) == 1
    assert auto_bin(40) == 2  # 41 rows at one tick
    assert auto_bin(399) == 10 and auto_bin(400) == 20
    assert auto_bin(10**9) == 10_000


def test_unknown_symbol_waits(fed) -> None:
    engine, _, _ = fed
    view = FootprintView(engine=engine, symbol="NOPEUSDT")
    view.__panel__()
    assert "waiting" in view._info.object


def test_live_changes_redraw_at_most_every_interval_and_rule_changes_at_once(fed, monkeypatch):
    from dashboard import footprint as module

    engine, feed, _ = fed
    view = FootprintView(engine=engine, symbol="BTCUSDT", price_bin=5)
    view.__panel__()
    clock = [module.time.monotonic() + 100.0]  # long after the first draw
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    view.refresh()
    drawn = view.redraws
    live = view.source.live_start
    now = int(time.time() * 1000)

    def trade() -> None:
        asyncio.run(feed.push(feed.trades(max(live, now - 500), live + MINUTE - 1, 30)))

    trade()
    view.refresh()  # long since the last redraw: drawn at once
    first = view.redraws
    assert first == drawn + 1
    trade()
    clock[0] += module.LIVE_REDRAW_S / 2
    view.refresh()
    assert view.redraws == first  # too soon
    clock[0] += module.LIVE_REDRAW_S
    view.refresh()
    assert view.redraws == first + 1  # the pending live change is drawn
    view.price_bin = 10  # a rule change is drawn at once, however recent the last redraw
    assert view.redraws == first + 2


def test_the_contract_survives_a_contract_list_that_lacks_it_for_a_while() -> None:
    from tests.dashboard.feed import SPECS

    engine = Engine()
    for spec in SPECS[1:]:  # the list so far has ETHUSDT and SOLUSDT, not yet BTCUSDT
        engine.registry.add(spec)
    view = FootprintView(engine=engine, symbol="BTCUSDT")
    panel = view.__panel__()
    panel.get_root()  # the page builds its widgets meanwhile (a tab shown late does this then)
    assert "waiting for the contract list" in view._info.object
    assert view.symbol == view._symbol_input.value == "BTCUSDT"
    Feed(engine)  # now BTCUSDT is listed
    view.refresh()
    assert view.symbol == "BTCUSDT" and view.source.known
    assert "waiting" not in view._info.object


@contextlib.contextmanager
def rendered(view: FootprintView, monkeypatch) -> Iterator[list[float]]:
    """The view drawn into a Bokeh document as a served session draws it, its redraw clock
    (time.monotonic, long after the first draw) in the test's hands: yields the clock."""
    from bokeh.document import Document
    from panel.io.server import set_curdoc

    from dashboard import footprint as module

    clock = [module.time.monotonic() + 100.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    doc = Document()
    with set_curdoc(doc):
        doc.add_root(view.__panel__().get_root(doc))
        view.refresh()
        yield clock


def drawn_cells(view: FootprintView, bar_time: int) -> pd.DataFrame:
    """What the browser was sent for one bar: sells and buys per level."""
    cells = view._plots["main"].subplots[("Cells", "I")].handles["source"].data
    rows = np.asarray(cells["bar_time"]) == bar_time
    columns = {name: np.asarray(cells[name])[rows] for name in ("level", "bid", "ask")}
    return pd.DataFrame(columns).groupby("level").first()


def test_live_ticks_and_rule_changes_reach_the_drawn_chart_as_data_alone(fed, monkeypatch):
    """In a rendered page, a live bar that gained trades and a new bin are sent as data (no
    DynamicMap update), and the cells sent equal the rebuild from the raw trades."""
    from bokeh.document import Document
    from panel.io.server import set_curdoc

    from dashboard import footprint as module

    engine, feed, now = fed
    view = FootprintView(engine=engine, symbol="BTCUSDT", price_bin=5)
    doc = Document()
    clock = [module.time.monotonic() + 100.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    with set_curdoc(doc):
        doc.add_root(view.__panel__().get_root(doc))
        view.refresh()
        assert set(view._plots) == {"main", "stats", "cvd"} and view._drawn_cells
        live = view.source.live_start
        redraws = view.redraws
        asyncio.run(feed.push(feed.trades(max(live, now - 500), live + MINUTE - 1, 40)))
        clock[0] += module.LIVE_REDRAW_S
        view.refresh()
        assert view.source.change == "live"
        assert (view.patches, view.redraws) == (1, redraws)
        for bin_ticks in (5, 10):
            if bin_ticks != view.price_bin:
                view.price_bin = bin_ticks  # drawn at once, however recent the last patch
            expected = naive_levels(engine, "BTCUSDT", view.source.start_ms, bin_ticks, MINUTE)
            expected = expected[expected["bar_time"] == live]
            got = drawn_cells(view, live)
            np.testing.assert_allclose(got.index.to_numpy(), expected["price"].to_numpy())
            np.testing.assert_allclose(got["bid"].to_numpy(), expected["bid_volume"].to_numpy())
            np.testing.assert_allclose(got["ask"].to_numpy(), expected["ask_volume"].to_numpy())
        assert (view.patches, view.redraws) == (2, redraws)
        # The browser reports the range it already had (a resize does): the DynamicMap redraws
        # the current data, not the element it drew before the patches.
        ranges = view._streams[0]
        ranges.event(x_range=ranges.x_range, y_range=ranges.y_range)
        cells = view._plots["main"].subplots[("Cells", "I")].handles["source"].data
        assert len({len(column) for column in cells.values()}) == 1
        got = drawn_cells(view, live)
        np.testing.assert_allclose(got["ask"].to_numpy(), expected["ask_volume"].to_numpy())
    cvd = view._plots["cvd"].handles["source"].data["cvd"]
    _, bars = view.source.frames()
    assert cvd[-1] == pytest.approx(float(bars["cvd"].iloc[-1]))


def browser_colours(glyph, prop: str, data: dict) -> list[str]:
    """The colours BokehJS draws for a glyph property mapped by a LinearColorMapper (its rule:
    palette[floor((x - low) / ((high - low) / len(palette)))])."""
    spec = getattr(glyph, prop)
    mapper = spec.transform
    step = (mapper.high - mapper.low) / len(mapper.palette)
    codes = np.asarray(data[spec.field], dtype=np.float64)
    return [mapper.palette[int(np.floor((c - mapper.low) / step))] for c in codes]


def test_candles_and_cells_are_drawn_in_their_sides_colours_before_and_after_a_patch(
    fed, monkeypatch
) -> None:
    """Glyph colours travel as indices into a fixed map: candle bodies are BUY when they close
    at or above their open and SELL otherwise, sell cells red and buy cells green, in the first
    drawing and after a live data patch."""
    from dashboard import footprint as module
    from dashboard.theme import BUY, SELL

    engine, feed, now = fed
    view = FootprintView(engine=engine, symbol="BTCUSDT", price_bin=5)
    with rendered(view, monkeypatch) as clock:
        for patched in (False, True):
            if patched:
                live = view.source.live_start
                asyncio.run(feed.push(feed.trades(max(live, now - 500), live + MINUTE - 1, 60)))
                clock[0] += module.LIVE_REDRAW_S
                view.refresh()
                assert view.patches == 1
            marks = view._plots["main"].subplots[("Marks", "I")].handles
            frame = view.frame(view._streams[0].x_range, view._streams[0].y_range)
            bars = frame.bars
            up = bars["close"].to_numpy() >= bars["open"].to_numpy()
            fills = browser_colours(marks["glyph"], "fill_color", marks["source"].data)
            assert fills[: len(bars)] == [BUY if u else SELL for u in up]
            cells = view._plots["main"].subplots[("Cells", "I")].handles
            colours = browser_colours(cells["glyph"], "fill_color", cells["source"].data)
            centre = np.asarray(cells["source"].data["bar_time"]) + MINUTE / 2
            sells = np.asarray(cells["source"].data["right"]) <= centre
            assert sells.any() and (~sells).any()
            assert {c for c, s in zip(colours, sells, strict=True) if s} <= {SELL, fg.SELL_DIM}
            assert {c for c, s in zip(colours, sells, strict=True) if not s} <= {BUY, fg.BUY_DIM}


def test_a_new_bar_moves_a_view_at_the_live_edge_without_a_full_redraw(fed, monkeypatch) -> None:
    """At the live edge, the bar that opens moves the view one bar on: the server shifts its
    range streams as the page's follow script will (x1 = the live wick + 3 bars) and sends
    the new bar as data, without a DynamicMap redraw; a view panned away stays where it is."""
    from pipelines.engine.footprint_source import FootprintSource

    engine, feed, now = fed
    clock_ms = [now]
    source = FootprintSource(
        engine=engine, symbol="BTCUSDT", price_bin=5, clock=lambda: clock_ms[0]
    )
    view = FootprintView(source=source)
    with rendered(view, monkeypatch):
        ranges = view._streams[0]
        live = source.live_start
        x1 = live + MINUTE / 2 + 3 * MINUTE  # where the opening view and the follow rule put it
        ranges.update(x_range=(x1 - 17 * MINUTE, x1))
        redraws, patches = view.redraws, view.patches

        next_bar = live + MINUTE
        asyncio.run(feed.push(feed.trades(next_bar, next_bar + 2_000, 50)))
        clock_ms[0] = next_bar + 2_500
        view.refresh()
        assert source.live_start == next_bar and source.change == "closed"
        assert (view.redraws, view.patches) == (redraws, patches + 1)
        assert ranges.x_range == (x1 + MINUTE - 17 * MINUTE, x1 + MINUTE)
        assert view._x_stream.x_range == ranges.x_range
        cells = view._plots["main"].subplots[("Cells", "I")].handles["source"].data
        assert next_bar in set(np.asarray(cells["bar_time"]).tolist())

        # Panned back an hour: a new bar leaves the view alone.
        away = (x1 - 60 * MINUTE, x1 - 43 * MINUTE)
        ranges.update(x_range=away)
        asyncio.run(feed.push(feed.trades(next_bar + MINUTE, next_bar + MINUTE + 2_000, 50)))
        clock_ms[0] = next_bar + MINUTE + 2_500
        view.refresh()
        assert source.change == "closed" and ranges.x_range == away


def holoviews_source_data(plot, element: hv.Element) -> dict[str, object]:
    """What HoloViews itself puts into a drawn glyph's source for `element` (the reference for
    the data-only update): its plot's get_data, with the columns a style maps (`fill_color=
    "fill_color"`) read from the element's dimensions, as its DynamicMap update does."""
    style = plot.style[plot.cyclic_index]
    data, _, _ = plot.get_data(element, plot.current_ranges, style)
    for name in plot.handles["source"].data:
        if name not in data:
            data[name] = element.dimension_values(name)
    return data


@pytest.mark.parametrize("mode", ["bid × ask", "delta", "volume"])
def test_a_data_only_update_sends_what_holoviews_would_draw_from_the_same_layers(
    fed, monkeypatch, mode
) -> None:
    """The data-only update builds no HoloViews element: each layer's columns go straight into
    the drawn sources. After a live tick and after a re-bin, every column of every drawn source
    (main chart, statistics row, CVD) equals what HoloViews' get_data makes of the element of
    that layer."""
    from dashboard import footprint as module
    from dashboard.footprint_chart import cvd_layer, main_layers, stats_layer

    engine, feed, now = fed
    view = FootprintView(engine=engine, symbol="BTCUSDT", price_bin=2, mode=mode)
    with rendered(view, monkeypatch) as clock:
        live = view.source.live_start
        for step in ("live", "bin"):
            if step == "live":
                asyncio.run(feed.push(feed.trades(max(live, now - 500), live + MINUTE - 1, 80)))
                clock[0] += module.LIVE_REDRAW_S
                view.refresh()
            else:
                view.price_bin = 5
            assert view.patches == (1 if step == "live" else 2)
            ranges, size = view._streams
            frame = view.frame(ranges.x_range, ranges.y_range, size.width, size.height)
            orders = view.source.big_orders(frame.x_range[0] - frame.tf_ms, frame.x_range[1])
            main = view._plots["main"].subplots.values()
            pairs = [
                *zip(main, main_layers(frame, orders), strict=True),
                (view._plots["stats"], stats_layer(frame)),
                (view._plots["cvd"], cvd_layer(frame.bars, frame.tf_ms)),
            ]
            for plot, layer in pairs:
                sent = plot.handles["source"].data
                expected = holoviews_source_data(plot, layer.element())
                assert set(sent) == set(expected), type(layer.element()).__name__
                for name, column in expected.items():
                    got, want = np.asarray(sent[name]), np.asarray(column)
                    assert got.shape == want.shape, name
                    if want.dtype.kind == "f":
                        np.testing.assert_array_equal(got.astype(float), want, err_msg=name)
                    else:
                        assert got.tolist() == want.tolist(), name
            cells = view._plots["main"].subplots[("Cells", "I")].handles["source"].data
            assert len(cells["left"]) > 0


def test_an_image_is_drawn_for_the_prices_of_the_bars_in_view_and_nothing_covers_it(
    three_hours,
) -> None:
    """The page keeps its y range on the visible bars without telling the server, so a zoom-out
    arrives with the previous view's y range: the image is still rasterized over every visible
    bar's prices (lowest low to highest high plus a level, padded). Over the image only the
    naked POCs, big orders and the range's profile are drawn; the wicks stay as data (the
    page's y range follows them) but transparent."""
    view, levels, bars, x_range = zoomed_out(three_hours)
    last = bars.iloc[-10:]
    stale = (float(last["low"].min()), float(last["high"].max()))  # the last bars' prices
    frame = view.frame(x_range, stale)
    assert not frame.draws_cells
    lo, hi = float(bars["low"].min()), float(bars["high"].max()) + frame.level_size
    assert frame.y_range[0] < lo and frame.y_range[1] > hi  # not the stale range
    assert frame.y_range[0] == pytest.approx(lo - max((hi - lo) * 0.04, frame.level_size))
    overlay = main_overlay(frame, view.source.big_orders(0, 2**62))
    image = overlay.get(IMAGE)
    _, y0, _, y1 = image.bounds.lbrt()
    assert (y0, y1) == pytest.approx(frame.y_range)
    values = np.nan_to_num(image.dimension_values(2))
    total = float((levels["bid_volume"] + levels["ask_volume"]).sum())
    assert values.sum() == pytest.approx(total, rel=1e-9)
    marks, lines, auctions = overlay.get(2), overlay.get(3), overlay.get(5)
    profile_rows = len(frame.studies.profile) * 2
    assert len(marks) == profile_rows  # no candle bodies, no POC boxes
    assert len(lines) == len(bars)  # the wicks alone, no value areas
    assert np.all(lines.dimension_values("alpha") == 0.0)
    assert len(auctions) == 0


def test_a_profile_of_more_levels_than_pixel_rows_is_drawn_in_groups_of_levels(three_hours):
    """Zoomed out over thousands of levels, the range's volume profile is one bar per group of
    levels (as many groups as pixel rows at most), each as long as its levels' volume."""
    view, _, _, x_range = zoomed_out(three_hours)
    frame = view.frame(x_range, None, 800, 40)  # 40 pixel rows
    profile = frame.studies.profile
    assert len(profile) > 40
    marks = main_overlay(frame, view.source.big_orders(0, 2**62)).get(2)
    lengths = marks.dimension_values("time_end") - marks.dimension_values("time")
    groups = len(lengths) // 2
    assert groups <= 40
    drawn = lengths[:groups] + lengths[groups:]  # sells + buys of each bar
    k = -(-len(profile) // 40)
    group = ((profile["price"] - profile["price"].iloc[0]) / frame.level_size).round() // k
    volume = profile["bid_volume"] + profile["ask_volume"]
    want = volume.groupby(group.astype(int)).sum().reindex(range(groups), fill_value=0.0)
    np.testing.assert_allclose(drawn / drawn.max(), want / want.max(), atol=1e-9)


def test_the_image_layer_always_has_a_finite_colour_range(three_hours) -> None:
    """While cells are drawn the image layer is empty: its log colour scale gets a fixed valid
    range (left to itself it has none, and BokehJS warns of an infinite bound); a zoom-out's
    image gets the range of its own sums."""
    view, _, _, x_range = zoomed_out(three_hours)
    cells, day = view.frame(), view.frame(x_range)
    assert cells.draws_cells and day.draws_image
    pipe = hv.streams.Pipe(data=cells)
    chart = hv.DynamicMap(lambda data: VolumeImage(data).element(), streams=[pipe])
    plot = hv.renderer("bokeh").get_plot(chart)
    mapper = plot.handles["color_mapper"]
    assert (mapper.low, mapper.high) == (1.0, 10.0)
    pipe.send(day)
    sums = VolumeImage(day).element().dimension_values(2)
    assert (mapper.low, mapper.high) == pytest.approx((np.nanmin(sums), np.nanmax(sums)))
