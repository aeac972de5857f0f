"""The four tabs in Chromium against the demo exchange: data arrives, the footprint's numbers
are the engine's re-aggregation, one engine serves every session, nothing leaves loopback."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from pipelines.analytics.footprint import TIMEFRAMES_MS, FootprintRules, footprint_from_records
from tests.ui.footprint_js import FOLLOW_JS, SOURCES_JS, ZOOM_JS, frames

pytestmark = pytest.mark.ui

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

# The heatmap's plot frame in page coordinates: the figure holding an image glyph.
HEATMAP_FRAME_JS = """
() => {
  const views = [];
  const walk = (v) => { views.push(v); for (const c of (v.child_views || [])) walk(c); };
  for (const root of Object.values(Bokeh.index)) walk(root);
  for (const v of views) {
    if (v.frame === undefined || !v.model.renderers) continue;
    if (!v.model.renderers.some(r => r.glyph && r.glyph.type === "Image")) continue;
    const box = v.el.getBoundingClientRect();
    if (box.width === 0) continue;
    const f = v.frame.bbox;
    return {x: box.left + f.left, y: box.top + f.top, width: f.width, height: f.height};
  }
  return null;
}
"""


# Records the symbol the clicked table row shows at the moment of the click.
# (The tables live in shadow roots: the event's path, not its retargeted target, has the row.)
CLICKED_ROW_JS = """
() => document.addEventListener("click", (event) => {
  const row = event.composedPath().find(
    (el) => el.classList && el.classList.contains("tabulator-row"));
  const cell = row && row.querySelector(".tabulator-cell[tabulator-field='symbol']");
  window.__clickedSymbol = cell ? cell.innerText.trim() : null;
}, true)
"""


def open_tab(page, name: str) -> None:
    page.locator(".bk-tab", has_text=name).first.click()


def rows_in(page, scope) -> int:
    return scope.locator(".tabulator-row").count()


def test_tabs_render_with_live_data(page, served) -> None:
    page.goto(served.url)
    expect(page.locator(".status")).to_contain_text("LIVE", timeout=20_000)
    # Screener: rows arrive at the default threshold (0.5 % of ADV).
    expect(page.locator(".tabulator-row").first).to_be_visible(timeout=45_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(IMG / "screener.png"))

    open_tab(page, "Imbalance")
    expect(page.get_by_text("BUYERS")).to_be_visible(timeout=15_000)
    # The first ranked contract (the screener's rows stay in the page, hidden).
    ranked = page.locator(".tabulator-row").filter(visible=True).first
    expect(ranked).to_be_visible(timeout=15_000)
    first = ranked.locator(".tabulator-cell[tabulator-field='symbol']").inner_text().strip()
    assert first
    # The ranking re-sorts every 2 s, and Tabulator reuses its row elements: the row found
    # may show another contract when the click lands. What the clicked row showed at that
    # moment is read in the page (capture phase, before any handler), and must be selected.
    page.evaluate(CLICKED_ROW_JS)
    cell = page.locator(
        ".tabulator-cell[tabulator-field='symbol']", has_text=re.compile(f"^{first}$")
    )
    page.locator(".tabulator-row").filter(visible=True).filter(has=cell).first.click()
    clicked = page.evaluate("() => window.__clickedSymbol")
    assert clicked
    expect(page.get_by_text("cumulative volume delta")).to_contain_text(clicked, timeout=10_000)
    page.wait_for_timeout(2500)
    page.screenshot(path=str(IMG / "imbalance.png"))

    open_tab(page, "Footprint")
    expect(page.get_by_text("trades · bin")).to_be_visible(timeout=15_000)
    symbol = page.locator("input[placeholder='symbol']")
    symbol.fill("")
    symbol.press_sequentially("BTCUSD", delay=30)
    page.locator(".bk-menu").get_by_text("BTCUSDT", exact=True).first.click()
    expect(page.get_by_text("trades · bin")).to_be_visible(timeout=15_000)
    page.wait_for_timeout(1500)
    assert page.evaluate(ZOOM_JS)  # the last few bars: close enough for the numbers to show
    page.wait_for_timeout(2500)
    page.screenshot(path=str(IMG / "footprint.png"))

    open_tab(page, "Liquidations")
    expect(page.get_by_text("lower bound", exact=False)).to_be_visible()
    expect(page.locator(".tabulator-row").first).to_be_visible(timeout=45_000)
    page.wait_for_timeout(2500)
    page.screenshot(path=str(IMG / "liquidations.png"))


def test_heatmap_hover_names_the_contract(page, served) -> None:
    page.goto(served.url)
    expect(page.locator(".status")).to_contain_text("LIVE", timeout=20_000)
    open_tab(page, "Imbalance")
    expect(page.locator(".tabulator-row").first).to_be_visible(timeout=15_000)
    page.wait_for_timeout(2000)
    frame = page.evaluate(HEATMAP_FRAME_JS)
    assert frame is not None
    names = set(served.on_loop(lambda: list(served.engine.registry.symbols)))
    shown = []
    for fraction in (0.1, 0.5, 0.9):  # rows near the top, middle and bottom
        page.mouse.move(frame["x"] + frame["width"] * 0.97, frame["y"] + frame["height"] * fraction)
        tooltip = page.locator(".bk-Tooltip").filter(has_text="contract").first
        expect(tooltip).to_be_visible(timeout=5000)
        text = tooltip.locator(".bk-tooltip-content").inner_text()
        shown.append(next(n for n in names if n in text.split()))
        assert "UTC" in text and "imbalance" in text
    assert len(set(shown)) == 3, shown


def shown_cells(page) -> pd.DataFrame:
    cells = frames(page.evaluate(SOURCES_JS), "cells")
    if len(cells) == 0:
        return pd.DataFrame(columns=["bar_time", "price", "bid", "ask"])
    return cells.groupby(["bar_time", "price"], as_index=False)[["bid", "ask"]].first()


def test_bin_change_shows_the_reaggregation(page, served) -> None:
    page.goto(served.url)
    expect(page.locator(".status")).to_contain_text("LIVE", timeout=20_000)
    open_tab(page, "Footprint")
    expect(page.get_by_text("trades · bin")).to_be_visible(timeout=15_000)
    spec = served.engine.registry.spec("BTCUSDT")
    tick = float(spec.tick_size)
    for multiple in (2, 10):
        select = (
            page.locator("select")
            .filter(has=page.locator("option", has_text=f"({multiple}×)"))
            .first
        )
        select.select_option(label=f"{spec.format_price(multiple)} ({multiple}×)")
        expect(page.get_by_text(f"bin {multiple * tick:,.8g}")).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1500)
        # The page keeps its y range on the bars in view, padded by at least the new level.
        shown = page.evaluate(FOLLOW_JS)
        tf, level = TIMEFRAMES_MS["1m"], multiple * tick
        x = np.asarray(shown["time"])
        seen = (x + tf / 2 > shown["x0"]) & (x - tf / 2 < shown["x1"])
        low, top = min(np.asarray(shown["low"])[seen]), max(np.asarray(shown["top"])[seen])
        pad = max((top - low) * 0.04, level)
        np.testing.assert_allclose([shown["y0"], shown["y1"]], [low - pad, top + pad], rtol=1e-12)
        cells = shown_cells(page)
        assert len(cells) > 0
        # Every level sits on the new grid.
        levels = np.round(cells["price"].to_numpy() / (multiple * tick), 6)
        np.testing.assert_allclose(levels, np.round(levels))
        closed = cells[cells["bar_time"] < cells["bar_time"].max()]
        if len(closed) == 0:
            continue
        start, end = (
            int(closed["bar_time"].min()),
            int(closed["bar_time"].max()) + TIMEFRAMES_MS["1m"],
        )
        rules = FootprintRules.make(spec, price_bin_ticks=multiple, timeframe="1m")
        trades = served.on_loop(lambda s=start, e=end: served.engine.trades("BTCUSDT", s, e))
        ref = footprint_from_records(trades, spec, rules)
        expected = ref.levels.loc[:, ["bar_time", "price", "bid_volume", "ask_volume"]]
        merged = closed.merge(expected, on=["bar_time", "price"], how="outer", indicator=True)
        assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
        np.testing.assert_allclose(merged["bid"], merged["bid_volume"], rtol=1e-12)
        np.testing.assert_allclose(merged["ask"], merged["ask_volume"], rtol=1e-12)


def test_sessions_share_one_engine(browser, served) -> None:
    from dashboard import runtime

    exchange = served.runtime.exchange
    before = exchange.call(lambda: exchange.standin.stats()["connections"])
    engine_connections = len(served.engine.streams.status())
    contexts = [browser.new_context() for _ in range(4)]
    try:
        for context in contexts:
            page = context.new_page()
            page.goto(served.url)
            expect(page.locator(".status")).to_contain_text("LIVE", timeout=20_000)
        assert runtime.runtimes_created() == 1
        assert exchange.call(lambda: exchange.standin.stats()["connections"]) == before
        assert len(served.engine.streams.status()) == engine_connections
    finally:
        for context in contexts:
            context.close()
