"""The footprint in Chromium: numbers at the default zoom equal the engine's rebuild, a day of
1-minute tick-level bars is one datashader image, panning back loads older bars, and a bin
chosen during a rebuild is the bin shown afterwards."""

from __future__ import annotations

import time

import numpy as np
import panel as pn
import pytest
from playwright.sync_api import expect

from dashboard import footprint_glyphs as fg
from dashboard import theme
from dashboard.footprint import FootprintView
from pipelines.analytics.footprint import FootprintRules, footprint_from_records
from pipelines.engine.service import Engine, EngineConfig
from pipelines.records.batch import EngineBatch
from pipelines.storage.writer import StoreWriter
from tests.dashboard.feed import Feed
from tests.ui.conftest import free_port
from tests.ui.footprint_js import SET_RANGE_JS, SOURCES_JS, frames, numbers

pytestmark = pytest.mark.ui

MINUTE = 60_000
DAY = 1440 * MINUTE


def open_footprint(page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_text("trades · bin")).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1500)


def shown(page) -> dict:
    return page.evaluate(SOURCES_JS)


def test_default_zoom_shows_the_numbers_of_the_rebuild(page, served) -> None:
    page.goto(served.url)
    expect(page.locator(".status")).to_contain_text("LIVE", timeout=20_000)
    page.locator(".bk-tab", has_text="Footprint").first.click()
    expect(page.get_by_text("trades · bin")).to_be_visible(timeout=15_000)
    page.wait_for_timeout(2000)
    spec = served.engine.registry.spec("BTCUSDT")

    def bin_shown() -> float:
        info = page.get_by_text("trades · bin").inner_text()
        return float(info.rsplit("bin", 1)[1].replace(",", ""))

    deadline = time.monotonic() + 90
    previous = None
    while True:  # a demo that just started may hold one bar: wait for a closed one
        # The automatic bin may be re-chosen when a bar closes: read it with the numbers.
        level = bin_shown()
        texts = numbers(shown(page), MINUTE, level)
        closed = texts[texts["bar_time"] < texts["bar_time"].max()] if len(texts) else texts
        closed = closed.reset_index(drop=True)
        # The same numbers two reads apart (a live redraw between them): a bar that has just
        # closed may still be drawn without its last trades.
        steady = previous is not None and previous.equals(closed)
        if (len(closed) and steady and bin_shown() == level) or time.monotonic() > deadline:
            break
        previous = closed
        page.wait_for_timeout(2000)
    multiple = round(level / float(spec.tick_size))
    assert len(closed) > 0, "no numbers at the default zoom"
    bins = {int(v) for v in closed["bar_time"]}
    start, end = min(bins), max(bins) + MINUTE
    trades = served.on_loop(lambda: served.engine.trades("BTCUSDT", start, end))
    rules = FootprintRules.make(spec, price_bin_ticks=multiple, timeframe="1m")
    ref = footprint_from_records(trades, spec, rules).levels.sort_values(["bar_time", "price"])
    ref = ref[ref["bar_time"] >= start]
    for kind, column in (("bid", "bid_volume"), ("ask", "ask_volume")):
        got = closed[closed["kind"] == kind].sort_values(["bar_time", "price"])
        np.testing.assert_allclose(got["price"], ref["price"], atol=level * 1e-6)
        assert got["text"].tolist() == fg.compact(ref[column].to_numpy())


def test_a_bin_chosen_during_a_rebuild_is_the_bin_shown(page, served) -> None:
    page.goto(served.url)
    expect(page.locator(".status")).to_contain_text("LIVE", timeout=20_000)
    page.locator(".bk-tab", has_text="Footprint").first.click()
    expect(page.get_by_text("trades · bin")).to_be_visible(timeout=15_000)
    spec = served.engine.registry.spec("BTCUSDT")
    select = page.locator("select").filter(has=page.locator("option", has_text="(5×)")).first
    # Two choices in a row, the second while the first rebuild is still on its way.
    select.select_option(label=f"{spec.format_price(2)} (2×)")
    select.select_option(label=f"{spec.format_price(5)} (5×)")
    expect(page.get_by_text(f"bin {5 * float(spec.tick_size):,.8g}")).to_be_visible(timeout=30_000)
    page.wait_for_timeout(2000)
    cells = frames(shown(page), "cells")
    assert len(cells) > 0
    levels = np.round(cells["price"].to_numpy() / (5 * float(spec.tick_size)), 6)
    np.testing.assert_allclose(levels, np.round(levels))
    assert select.input_value() == f"{spec.format_price(5)} (5×)"


@pytest.fixture(scope="module")
def day_served(tmp_path_factory):
    """A day of BTCUSDT-like trades in a store, the last hour in the buffer, one footprint page."""
    db = str(tmp_path_factory.mktemp("day") / "orderflow.db")
    engine = Engine(EngineConfig(db_path=db, buffer_retention_s=3600))
    feed = Feed(engine)
    now = int(time.time() * 1000)
    batches = []
    for hour in range(24):  # an hour a batch: ids and times increase across batches
        start = now - DAY + hour * 3600_000
        trades = feed.trades(start, start + 3600_000, 18_000)
        batches.append(EngineBatch(seq=hour, created_ms=start, trades=trades))
    with StoreWriter(db, engine.registry) as writer:
        for b in batches:
            writer.submit(b)
        assert writer.flush(60)
    engine.buffer.append(batches[-1].trades)  # the raw buffer holds the last hour
    theme.configure()
    port = free_port()

    def app():
        view = FootprintView(engine=engine, symbol="BTCUSDT", price_bin=1)
        return pn.Column(view, sizing_mode="stretch_both")

    server = pn.serve(
        {"/": app}, address="127.0.0.1", port=port, show=False, threaded=True,
        websocket_origin=[f"127.0.0.1:{port}"],
    )  # fmt: skip
    time.sleep(1)
    yield f"http://127.0.0.1:{port}/", engine, now
    server.stop()


def test_a_day_of_tick_level_bars_is_one_image(page, day_served) -> None:
    url, engine, now = day_served
    open_footprint(page, url)
    before = shown(page)
    assert len(frames(before, "cells")) > 0  # opens on cells
    assert page.evaluate(SET_RANGE_JS, [now - DAY, now + MINUTE])
    deadline = time.monotonic() + 30
    while True:  # the day's first bars come from the store: a first load takes a few seconds
        page.wait_for_timeout(1000)
        after = shown(page)
        images = [i for i in after["images"] if i["filled"] > 0]
        closes = frames(after, "bars")["close"]
        if (images and closes.min() < now - DAY + 30 * MINUTE) or time.monotonic() > deadline:
            break
    assert images, "zoomed out to a day, the chart should be an image"
    assert len(frames(after, "cells")) == 0 and len(frames(after, "numbers")) == 0
    assert closes.min() < now - DAY + 30 * MINUTE  # the day's first bars, from the store
    # The image is rasterized over the prices of the whole day, not those of the view before.
    spec = engine.registry.spec("BTCUSDT")
    rules = FootprintRules.make(spec, price_bin_ticks=1, timeframe="1m")
    bars = engine.footprint("BTCUSDT", now - DAY, now + MINUTE, rules).bars
    low, top = float(bars["low"].min()), float(bars["high"].max()) + float(spec.tick_size)
    assert any(i["y"] <= low and i["y"] + i["dh"] >= top for i in images), (images, low, top)


def test_panning_before_the_loaded_range_loads_older_bars(page, day_served) -> None:
    url, engine, now = day_served
    open_footprint(page, url)
    first_shown = frames(shown(page), "bars")["close"].min()
    target = now - 6 * 3600_000
    assert target < first_shown - 60 * MINUTE
    assert page.evaluate(SET_RANGE_JS, [target, target + 16 * MINUTE])
    page.wait_for_timeout(4000)
    cells = frames(shown(page), "cells")
    assert len(cells) > 0
    assert cells["bar_time"].min() <= target + 16 * MINUTE
    spec = engine.registry.spec("BTCUSDT")
    start = int(cells["bar_time"].min())
    end = int(cells["bar_time"].max()) + MINUTE
    got = cells.groupby(["bar_time", "price"])["bid"].first()
    records, _ = engine.store.load_trades("BTCUSDT", start, end)
    ref = footprint_from_records(
        records, spec, FootprintRules.make(spec, price_bin_ticks=1, timeframe="1m")
    ).levels.set_index(["bar_time", "price"])["bid_volume"]
    ref = ref[ref > 0]
    got = got[got > 0]
    np.testing.assert_allclose(got.sort_index().to_numpy(), ref.sort_index().to_numpy())
