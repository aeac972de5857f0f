"""A click on a live table names the row the trader saw, even when the server's table has
already changed under it (a ranking re-sorted between the browser's last update and the click)."""

from __future__ import annotations

import asyncio
import time

import pandas as pd
import panel as pn
import pytest
from playwright.sync_api import expect

from dashboard.clicks import on_shown_click
from tests.ui.conftest import free_port

pytestmark = pytest.mark.ui

SHOWN = ["SOLUSDT", "BTCUSDT", "ETHUSDT"]


class TablePage:
    """One session's table, what `on_shown_click` reported, and Panel's own click events."""

    def __init__(self) -> None:
        self.table: pn.widgets.Tabulator | None = None
        self.picked: list[str] = []
        self.panel_clicks: list[str] = []

    def app(self) -> pn.viewable.Viewable:
        self.table = pn.widgets.Tabulator(
            pd.DataFrame({"symbol": SHOWN, "imbalance": [0.9, 0.5, 0.1]}),
            show_index=False, disabled=True, selectable=False,
        )  # fmt: skip
        self.table.on_click(
            lambda event: self.panel_clicks.append(self.table.value["symbol"].iloc[event.row])
        )
        sink = on_shown_click([self.table], "symbol", self.picked.append)
        return pn.Column(self.table, sink)


@pytest.fixture
def table_page():
    state = TablePage()
    port = free_port()
    server = pn.serve(
        {"/": state.app}, address="127.0.0.1", port=port, show=False, threaded=True,
        websocket_origin=[f"127.0.0.1:{port}"],
    )  # fmt: skip
    yield state, f"http://127.0.0.1:{port}/", server
    server.stop()


def wait_for(predicate, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_click_names_the_row_shown_not_the_servers_current_row(browser, table_page) -> None:
    state, url, server = table_page
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    rows = page.locator(".tabulator-row")
    expect(rows.first).to_contain_text("SOLUSDT", timeout=15_000)

    # The server re-sorts its table, and the browser has not received it yet: the frame is
    # changed in place, which sends nothing (as a patch still on its way would be).
    async def resort() -> None:
        state.table.value["symbol"] = list(reversed(SHOWN))

    asyncio.run_coroutine_threadsafe(resort(), server.asyncio_loop).result(10)

    rows.first.locator(".tabulator-cell[tabulator-field='imbalance']").click()
    wait_for(lambda: state.picked and state.panel_clicks)
    assert state.panel_clicks == ["ETHUSDT"]  # Panel's on_click: the server's current row 0
    assert state.picked == ["SOLUSDT"]  # what the trader clicked

    # A second click on the same row is a second pick (the trader chose it again).
    rows.nth(1).click()
    rows.nth(1).click()
    wait_for(lambda: len(state.picked) == 3)
    assert state.picked[1:] == ["BTCUSDT", "BTCUSDT"]
    context.close()
    assert errors == []


def test_click_after_sorting_in_the_browser_names_the_sorted_row(browser, table_page) -> None:
    state, url, _ = table_page
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    rows = page.locator(".tabulator-row")
    expect(rows.first).to_contain_text("SOLUSDT", timeout=15_000)
    page.locator(".tabulator-col[tabulator-field='imbalance']").click()  # ascending
    expect(rows.first).to_contain_text("ETHUSDT", timeout=5_000)
    rows.first.click()
    wait_for(lambda: state.picked)
    assert state.picked == ["ETHUSDT"]
    context.close()
