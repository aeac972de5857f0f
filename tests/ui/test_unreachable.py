"""The app pointed at an exchange nobody answers: every tab renders a calm empty state naming
the reason, and the server logs no traceback."""

from __future__ import annotations

import logging
import time

import pytest
from playwright.sync_api import expect

from dashboard import runtime
from tests.ui.conftest import free_port, serving

pytestmark = pytest.mark.ui

TABS = ("Screener", "Imbalance", "Footprint", "Liquidations")
DEAD_SECONDS = 30


# The engine's own reports of the outage (start retries, reconnects): expected, no traceback.
EXPECTED_LOGGERS = ("dashboard.runtime", "pipelines.engine")


class Captured(logging.Handler):
    """Server log records at WARNING or above that are not the engine reporting the outage,
    and every record carrying a traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        expected = record.name.startswith(EXPECTED_LOGGERS) and not record.exc_info
        if not expected or "Traceback" in text or "Exception in callback" in text:
            self.lines.append(text)


@pytest.fixture
def dead_server():
    """The dashboard on its own engine, which points at a closed loopback port."""

    closed = free_port()  # bound and released: nothing listens there
    rt = runtime.Runtime(
        runtime.RuntimeSettings(
            rest_url=f"http://127.0.0.1:{closed}", ws_url=f"ws://127.0.0.1:{closed}"
        )
    )
    captured = Captured()
    captured.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(captured)
    try:
        with serving(rt) as (url, _):
            yield url, rt, captured
    finally:
        root.removeHandler(captured)


def test_every_tab_names_the_reason_and_the_log_stays_clean(browser, dead_server) -> None:
    url, rt, captured = dead_server
    context = browser.new_context(viewport={"width": 1500, "height": 850})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(url)
        expect(page.locator(".status")).to_contain_text("DISCONNECTED", timeout=20_000)
        started = time.monotonic()
        # Every tab, visited again and again for the whole outage, keeps its empty state.
        while True:
            for tab in TABS:
                page.locator(".bk-tab", has_text=tab).first.click()
                if tab == "Footprint":  # the lead's tab: its own waiting text
                    expect(page.get_by_text("waiting", exact=False).first).to_be_visible(
                        timeout=10_000
                    )
                    continue
                state = page.locator(f".empty-state[data-view='{tab.lower()}']")
                expect(state).to_be_visible(timeout=10_000)
                expect(state).to_contain_text("exchange unreachable", timeout=10_000)
                page.wait_for_timeout(1500)
            if time.monotonic() - started > DEAD_SECONDS:
                break
        assert not rt.engine.status().connected
    finally:
        context.close()
    assert captured.lines == [], captured.lines[:3]
    assert errors == [], errors[:5]
