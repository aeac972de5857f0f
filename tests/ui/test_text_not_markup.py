"""Exchange-supplied strings (contract names) in the views' tables are text, never markup."""

from __future__ import annotations

import pandas as pd
import panel as pn
import pytest
from playwright.sync_api import expect

from dashboard.theme import tint_formatter
from tests.ui.conftest import free_port

pytestmark = pytest.mark.ui

NAMES = ['<img id="evil" src="x" onerror="window.evil=1">USDT', "币安人生USDT", "A&amp;BUSDT"]


def test_contract_names_render_as_text(browser) -> None:
    def app() -> pn.widgets.Tabulator:
        frame = pd.DataFrame({"symbol": NAMES, "side": ["buy", "sell", "buy"]})
        return pn.widgets.Tabulator(
            frame, show_index=False, formatters={"symbol": tint_formatter("text")}
        )

    port = free_port()
    server = pn.serve({"/": app}, address="127.0.0.1", port=port, show=False, threaded=True,
                      websocket_origin=[f"127.0.0.1:{port}"])  # fmt: skip
    page = browser.new_page()
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        cells = page.locator(".tabulator-cell[tabulator-field=symbol]")
        expect(cells).to_have_count(len(NAMES), timeout=30_000)
        assert [c.inner_text() for c in cells.all()] == NAMES  # verbatim, entities included
        assert page.locator("#evil").count() == 0
        assert page.evaluate("window.evil === undefined")
    finally:
        page.close()
        server.stop()
