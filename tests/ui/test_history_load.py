"""Opening a contract with no stored history in Chromium: the progress shows the REST load, the
last 2 h are there after it, and the footprint equals the engine's rebuild from the trades."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import panel as pn
import pytest
from playwright.sync_api import expect

from dashboard import theme
from dashboard.footprint import FootprintView
from pipelines.analytics.footprint import FootprintRules, footprint_from_records
from pipelines.engine.service import Engine, EngineConfig
from pipelines.records.timeunits import HOUR_MS, MINUTE_MS
from pipelines.standin.server import StandInThread
from tests.ui.conftest import free_port
from tests.ui.footprint_js import SET_RANGE_JS, SOURCES_JS, frames

pytestmark = pytest.mark.ui

SYMBOL = "BTCUSDT"


@pytest.fixture(scope="module")
def fresh_served():
    """A stand-in with a 6 h past, an engine without a store, one footprint page. BTCUSDT's
    2 h are ~35 pages (weight ~700); the REST budget is cut to 350 a minute for history, so
    the load spans more than a minute and the page can be seen showing it."""
    exchange = StandInThread(symbols=4, rate=40.0, seed=5, history_s=6 * 3600).start()
    engine = Engine(
        EngineConfig(
            rest_url=exchange.rest_url,
            ws_url=exchange.ws_url,
            book_depth=False,
            history_reserve_weight=100,
        )
    )
    engine.rest.weight_budget = 450
    theme.configure()
    port = free_port()

    def app():
        view = FootprintView(engine=engine, symbol=SYMBOL, price_bin=1)
        return pn.Column(view, sizing_mode="stretch_both")

    server = pn.serve(
        {"/": app}, address="127.0.0.1", port=port, show=False, threaded=True,
        websocket_origin=[f"127.0.0.1:{port}"],
    )  # fmt: skip
    time.sleep(1)
    loop = server.asyncio_loop
    asyncio.run_coroutine_threadsafe(engine.start(), loop).result(60)
    deadline = time.monotonic() + 60
    while not len(engine.trades(SYMBOL)) and time.monotonic() < deadline:
        time.sleep(0.5)

    def on_loop(fn):
        async def call():
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(30)

    yield f"http://127.0.0.1:{port}/", engine, on_loop
    asyncio.run_coroutine_threadsafe(engine.stop(), loop).result(30)
    server.stop()
    exchange.stop()


def shown_until(page, condition, timeout_s: float = 60) -> bool:
    """Whether the chart's sources meet `condition` within `timeout_s` (a busy machine
    renders a 2 h tick-level range slowly); polled, so nothing here depends on timing."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition(page.evaluate(SOURCES_JS)):
                return True
        except KeyError:  # no such source drawn yet
            pass
        page.wait_for_timeout(1000)
    return False


def test_opening_a_contract_loads_its_last_two_hours(page, fresh_served) -> None:
    url, engine, on_loop = fresh_served
    first_live = on_loop(lambda: engine.buffer.coverage(engine.registry.index(SYMBOL))[0])
    page.goto(url)
    expect(page.get_by_text("loading history")).to_be_visible(timeout=30_000)
    load = on_loop(lambda: engine.history_loads.latest(SYMBOL))
    assert load is not None and load.progress.start_ms < first_live - HOUR_MS
    deadline = time.monotonic() + 240
    while not on_loop(lambda: load.done) and time.monotonic() < deadline:
        page.wait_for_timeout(1000)
    assert on_loop(lambda: load.done) and load.progress.error == ""
    expect(page.get_by_text("loading history")).to_be_hidden(timeout=15_000)
    start = load.progress.start_ms

    # Zoomed out to the 2 h: the first bars are those of the load.
    now = int(time.time() * 1000)
    assert page.evaluate(SET_RANGE_JS, [start, now + MINUTE_MS])
    assert shown_until(page, lambda s: frames(s, "bars")["close"].min() <= start + 2 * MINUTE_MS)

    # A window inside the loaded past, at tick level: the cells equal the engine's rebuild.
    target = first_live - 60 * MINUTE_MS
    assert page.evaluate(SET_RANGE_JS, [target, target + 16 * MINUTE_MS])
    deadline = time.monotonic() + 60
    while True:  # one snapshot of the page, read once it holds the window (a redraw may follow)
        cells = frames(page.evaluate(SOURCES_JS), "cells")
        if len(cells) and cells["bar_time"].max() < first_live:
            break
        assert time.monotonic() < deadline, "the window of loaded history was not drawn"
        page.wait_for_timeout(500)
    lo, hi = int(cells["bar_time"].min()), int(cells["bar_time"].max()) + MINUTE_MS
    assert hi <= first_live  # all of it is loaded history
    spec = engine.registry.spec(SYMBOL)
    trades = on_loop(lambda: engine.trades(SYMBOL, lo, hi))
    ref = footprint_from_records(
        trades, spec, FootprintRules.make(spec, price_bin_ticks=1, timeframe="1m")
    ).levels.set_index(["bar_time", "price"])
    for side, column in (("bid", "bid_volume"), ("ask", "ask_volume")):
        got = cells.groupby(["bar_time", "price"])[side].first()
        want = ref[column]
        got, want = got[got > 0].sort_index(), want[want > 0].sort_index()
        assert len(got) > 20
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy())
