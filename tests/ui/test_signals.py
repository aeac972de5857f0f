"""The Signals tab at 600 contracts in Chromium: live signals arrive, the table holds the
tracker's signals under the default filters, and a click opens the footprint on the signal's
bar with its levels boxed. Writes docs/img/signals.png."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dashboard.signals import DEFAULT_STRENGTH
from pipelines.analytics.footprint import TIMEFRAMES_MS
from pipelines.analytics.signal_tracker import SignalFilter
from tests.ui.conftest import IGNORED_CONSOLE, market_of
from tests.ui.footprint_js import FOLLOW_JS

pytestmark = pytest.mark.ui

CONTRACTS = 600
IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

# The sequence numbers the browser holds in the signals table (its hidden `seq` column).
TABLE_SEQS_JS = """
() => {
  for (const doc of Bokeh.documents) {
    for (const m of doc._all_models.values()) {
      const d = m.data;
      if (d && d.seq !== undefined && d.signal !== undefined && d.strength !== undefined) {
        return Array.from(d.seq);
      }
    }
  }
  return null;
}
"""

# The footprint's signal box: the one dashed quad (HoloViews draws Rectangles as quads, from
# left, bottom, right, top).
MARK_JS = """
() => {
  for (const doc of Bokeh.documents) {
    for (const m of doc._all_models.values()) {
      const g = m.glyph;
      if (!g || g.type !== "Quad") continue;
      const dash = g.line_dash && g.line_dash.value !== undefined ? g.line_dash.value : g.line_dash;
      if (dash !== "dashed") continue;
      const d = m.data_source.data;
      if (d.top && d.top.length > 0) {
        return {left: d.left[0], right: d.right[0], bottom: d.bottom[0], top: d.top[0]};
      }
    }
  }
  return null;
}
"""

# Every sequence number in `want` is in the browser's table.
HOLDS_JS = f"""
(want) => {{
  const shown = new Set(({TABLE_SEQS_JS})() || []);
  return want.every(s => shown.has(s));
}}
"""


@pytest.fixture(scope="module")
def market():
    """The dashboard on its own engine, fed by a stand-in of 600 contracts at 1,000 trades/s."""
    with market_of(CONTRACTS, demo_history_s=0) as served:
        yield served


def on_loop(server, fn):
    """`fn()` on the server's loop, where the engine runs: reads see a consistent state."""

    async def call():
        return fn()

    return asyncio.run_coroutine_threadsafe(call(), server.asyncio_loop).result(30)


# Minutes of market: the first whole minute must close (up to two after the start), a second
# one fills the screenshot, and the click waits for a quiet part of a minute.
@pytest.mark.timeout(720)
def test_live_signals_and_a_click_to_the_footprint(browser, market) -> None:
    url, rt, server = market
    engine = rt.engine
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not any(s in m.text for s in IGNORED_CONSOLE)
            else None
        ),
    )
    try:
        page.goto(url)
        expect(page.locator(".status")).to_contain_text("LIVE", timeout=30_000)
        page.locator(".bk-tab", has_text="Signals").first.click()
        # Before the first minute closes the tab says when signals start; then they come.
        table = page.locator(".tabulator").filter(
            has=page.locator(".tabulator-col[tabulator-field='levels']")
        )
        rows = table.locator(".tabulator-row")
        expect(rows.first).to_be_visible(timeout=200_000)
        assert len(engine.registry.active) > 590

        # The table holds the tracker's signals at the default filters, none missing: every
        # signal the tracker holds now reaches the page, and the page holds nothing else.
        where = SignalFilter(min_strength=DEFAULT_STRENGTH)
        tracker = engine.analytics.signals
        held = on_loop(server, lambda: tracker.select(0, where)["seq"].tolist())[-500:]
        assert held
        page.wait_for_function(HOLDS_JS, arg=held, timeout=30_000)
        shown = sorted(int(s) for s in page.evaluate(TABLE_SEQS_JS))
        after = on_loop(server, lambda: tracker.select(0, where)["seq"].tolist())
        assert shown == [s for s in after if s <= shown[-1]][-500:]

        # Screenshot once the table is full (docs/user-guide.md).
        page.wait_for_function(
            f"() => {{ const s = ({TABLE_SEQS_JS})(); return s && s.length >= 30; }}",
            timeout=240_000,
        )
        page.screenshot(path=str(IMG / "signals.png"))

        # Click the top row between minute closes (rows stream in at the closes only), and
        # read what it showed: the box drawn must be that signal's.
        page.wait_for_function("() => { const s = new Date().getUTCSeconds(); "
                               "return s >= 8 && s <= 45; }", timeout=70_000)  # fmt: skip
        top = rows.first
        cell = lambda field: top.locator(f".tabulator-cell[tabulator-field='{field}']")  # noqa: E731
        symbol = cell("symbol").inner_text().strip()
        timeframe = cell("timeframe").inner_text().strip()
        close_text = cell("time").inner_text().strip()
        price_text = cell("price").inner_text().strip()
        cell("signal").click()

        expect(page.locator("input[placeholder='symbol']")).to_have_value(symbol, timeout=20_000)
        tf = TIMEFRAMES_MS[timeframe]
        page.wait_for_function(
            f"""() => {{
              const m = ({MARK_JS})(), f = ({FOLLOW_JS})();
              return m && f && f.x0 <= m.left && m.right <= f.x1;
            }}""",
            timeout=60_000,
        )
        mark, view = page.evaluate(MARK_JS), page.evaluate(FOLLOW_JS)
        bar = int(mark["left"])
        assert mark["right"] - mark["left"] == tf
        assert time.strftime("%H:%M:%S", time.gmtime((bar + tf) / 1000)) == close_text
        assert view["x0"] <= bar and bar + tf <= view["x1"]  # the bar is in view
        # The box is the signal's levels: from its lowest level's lower edge to one level
        # above its highest, on the signal's bin.
        frame = on_loop(server, lambda: engine.analytics.signals.frame())
        low = float(price_text.split("–")[0].replace(",", ""))
        match = frame[
            (frame["symbol"] == symbol) & (frame["timeframe"] == timeframe)
            & (frame["bar_time"] == bar) & ((frame["price_low"] - low).abs() < 1e-9)
        ]  # fmt: skip
        assert len(match) >= 1, (symbol, timeframe, bar, price_text)
        signal = match.iloc[0]
        level = float(engine.registry.spec(symbol).ticks_to_price(int(signal["bin_ticks"])))
        assert mark["bottom"] == pytest.approx(signal["price_low"], abs=level * 1e-6)
        assert mark["top"] == pytest.approx(signal["price_high"] + level, abs=level * 1e-6)
        # The footprint draws that bar: its wick is among the drawn bars.
        assert any(abs(t - (bar + tf / 2)) < 1 for t in view["time"])
        # The chosen timeframe shows as the footprint's.
        active = page.locator(".bk-btn.bk-active").filter(visible=True)
        expect(active.filter(has_text=re.compile(f"^{timeframe}$")).first).to_be_visible()
    finally:
        context.close()
    assert errors == [], errors[:5]
