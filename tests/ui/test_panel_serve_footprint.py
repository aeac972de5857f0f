"""`panel serve dashboard/app.py` as the product card runs it: the engine starts with the first
session, and a Footprint opened 45 s later opens on the last bars (it once opened on a
1970-to-now axis)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import free_port
from tests.ui.footprint_js import FOLLOW_JS
from tests.ui.test_serve_command import ROOT, orderflow, wait_for_port

pytestmark = pytest.mark.ui

MINUTE = 60_000


def test_footprint_opened_late_under_panel_serve_shows_the_last_bars(browser) -> None:
    with orderflow("simulate", "--port", "0", "--symbols", "600", "--rate", "1000") as sim:
        urls = dict(re.findall(r"(rest|ws): (\S+)", sim.stdout.readline()))
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "ORDERFLOW_REST_URL": urls["rest"],
               "ORDERFLOW_WS_URL": urls["ws"]}  # fmt: skip
        serve = subprocess.Popen(
            [sys.executable, "-m", "panel", "serve", "dashboard/app.py", "--address",
             "127.0.0.1", "--port", str(port), f"--allow-websocket-origin=127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1500, "height": 850})
        try:
            wait_for_port(port, serve)
            page.goto(f"http://127.0.0.1:{port}/")
            expect(page.locator(".status")).to_contain_text("LIVE", timeout=90_000)
            page.locator(".bk-tab", has_text="Imbalance").first.click()
            time.sleep(45)  # the reported sequence: the other tabs first, then the footprint
            page.locator(".bk-tab", has_text="Footprint").first.click()
            expect(page.get_by_text("trades · bin")).to_be_visible(timeout=60_000)
            page.wait_for_function(f"({FOLLOW_JS})() !== null", timeout=60_000)
            shown = page.evaluate(FOLLOW_JS)
            now = time.time() * 1000
        finally:
            page.close()
            serve.kill()
            serve.wait(10)
    # The x axis spans the last bars, not decades.
    assert now - 60 * MINUTE < shown["x0"] < now, shown["x0"]
    assert now - 5 * MINUTE < shown["x1"] < now + 10 * MINUTE, shown["x1"]
    assert len(shown["time"]) > 0
