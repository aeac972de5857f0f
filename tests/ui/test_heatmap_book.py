"""The Heatmap tab in Chromium on a 30-contract stand-in with BTCUSDT's local book: resting size
and trade bubbles arrive live; six stored hours of book zoom out to one image per side; after a
restart on the same store, the seconds the first run recorded are drawn again."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from dashboard import runtime
from pipelines.analytics.bookhistory import BookSecondsRecorder
from pipelines.analytics.localbook import BookLevels
from pipelines.records.timeunits import HOUR_MS
from pipelines.storage.book_rows import book_row
from tests.ui.conftest import ALL_VIEWS_JS, serving

pytestmark = pytest.mark.ui

SYMBOL = "BTCUSDT"
STORED_S = 6 * 3600

# The heatmap's plot: its images (finite pixels, width in ms), bubbles, and x range.
STATE_JS = (
    "() => {"
    + ALL_VIEWS_JS
    + """
  for (const v of views) {
    if (v.frame === undefined || !v.model.renderers) continue;
    const images = v.model.renderers.filter(r => r.glyph && r.glyph.type === "Image");
    if (images.length !== 2 || v.el.getBoundingClientRect().width === 0) continue;
    const out = {images: [], bubbles: 0, x0: v.model.x_range.start, x1: v.model.x_range.end};
    for (const r of images) {
      const d = r.data_source.data, img = d.image[0];
      let finite = 0;
      for (let i = 0; i < img.length; i++) if (Number.isFinite(img[i]) && img[i] > 0) finite++;
      out.images.push({count: d.image.length, finite: finite, x: d.x[0], dw: d.dw[0],
                       columns: d.image[0].shape ? d.image[0].shape[1] : null});
    }
    for (const r of v.model.renderers) {
      if (r.glyph && r.glyph.type === "Scatter") out.bubbles += r.data_source.get_length() || 0;
    }
    out.width = v.frame.bbox.width;
    return out;
  }
  return null;
}
"""
)

ZOOM_JS = """
([x0, x1]) => {
  for (const root of Object.values(Bokeh.index)) {
    const walk = (v) => {
      if (v.model.renderers && v.model.renderers.filter(
            r => r.glyph && r.glyph.type === "Image").length === 2
          && v.el.getBoundingClientRect().width > 0) {
        v.model.x_range.setv({start: x0, end: x1});
        v.trigger_ranges_update_event();
        return true;
      }
      return (v.child_views || []).some(walk);
    };
    if (walk(root)) return true;
  }
  return false;
}
"""


def wait_for(page, condition, timeout_s: float = 90.0) -> dict:
    """Poll the page's heatmap state until `condition(state)` holds."""
    deadline = time.monotonic() + timeout_s
    state = None
    while time.monotonic() < deadline:
        state = page.evaluate(STATE_JS)
        if state is not None and condition(state):
            return state
        page.wait_for_timeout(250)
    raise AssertionError(f"the heatmap never reached the condition; last state: {state}")


def synthetic_rows(spec, mid: int, end_ms: int) -> list[tuple]:
    """Six hours of book seconds ending at `end_ms`: 30 levels a side around `mid`, a wall
    that comes and goes every ten minutes."""
    rng = np.random.default_rng(11)
    recorder = BookSecondsRecorder()
    rows = []
    start = end_ms - STORED_S * 1000
    for i in range(STORED_S):
        t = start + (i + 1) * 1000
        qty = rng.integers(1, 4000, 60)
        if (i // 600) % 2 == 0:
            qty[5] = 400_000  # the wall
        bids = np.column_stack([mid - 30 + np.arange(30), qty[:30]]).astype(np.int64)
        asks = np.column_stack([mid + 1 + np.arange(30), qty[30:]]).astype(np.int64)
        levels = BookLevels(bids, asks, (mid - 30, mid + 30))
        rows.append(book_row(SYMBOL, spec, recorder.record(t, levels)))
    return rows


def on_loop(rt, fn):
    async def call():
        return fn()

    return asyncio.run_coroutine_threadsafe(call(), rt.loop).result(60)


def new_runtime(db: str) -> runtime.Runtime:
    return runtime.Runtime(
        runtime.RuntimeSettings(
            demo=True, demo_symbols=30, demo_rate=300, demo_seed=5, demo_history_s=0,
            warm_hours=0, books=(SYMBOL,), db_path=db,
        )
    )  # fmt: skip


def open_heatmap(browser, url):
    page = browser.new_page(viewport={"width": 1500, "height": 850})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.locator(".bk-tab", has_text="Heatmap").first.click()
    return page, errors


def synced_mid(rt) -> int:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        view = on_loop(rt, lambda: rt.engine.order_books.current(SYMBOL))
        if view is not None and view.synced and view.best_bid and view.best_ask:
            return (view.best_bid + view.best_ask) // 2
        time.sleep(0.3)
    raise AssertionError(f"{SYMBOL}'s book did not sync")


def test_live_zoom_out_and_restart(browser, tmp_path) -> None:
    db = str(tmp_path / "store.db")
    rt = new_runtime(db)
    with serving(rt) as (url, _):
        mid = synced_mid(rt)
        spec = rt.engine.registry.spec(SYMBOL)
        first_run = int(time.time() * 1000)
        stored_end = first_run - 120_000  # the synthetic past ends two minutes before this run
        rows = synthetic_rows(spec, mid, stored_end)
        for i in range(0, len(rows), 2000):
            on_loop(
                rt, lambda chunk=rows[i : i + 2000]: rt.engine.writer.submit_book_seconds(chunk)
            )
        assert on_loop(rt, lambda: rt.engine.writer is not None)
        page, errors = open_heatmap(browser, url)

        # Live: resting size in both images, trade bubbles, and the live edge moving on.
        first = wait_for(page, lambda s: all(i["finite"] > 0 for i in s["images"]) and s["bubbles"])
        wait_for(page, lambda s: sum(i["finite"] for i in s["images"])
                 > sum(i["finite"] for i in first["images"]))  # fmt: skip

        # Zoomed out to the six stored hours: one image per side, no wider than the plot, with
        # the stored book in it.
        x0, x1 = stored_end - STORED_S * 1000, int(time.time() * 1000)
        assert page.evaluate(ZOOM_JS, [x0, x1])
        zoomed = wait_for(
            page,
            lambda s: all(i["dw"] > 5.9 * HOUR_MS and i["finite"] > 0 for i in s["images"]),
        )
        for image in zoomed["images"]:
            assert image["count"] == 1
            assert image["x"] <= x0 + 60_000
        first_run_end = int(time.time() * 1000)
        assert errors == []
        page.close()
        time.sleep(2)  # the writer's next flush holds the run's last seconds

    # A restart on the same store: the first run's recorded seconds are drawn again.
    rt2 = new_runtime(db)
    with serving(rt2) as (url, _):
        synced_mid(rt2)
        page, errors = open_heatmap(browser, url)
        wait_for(page, lambda s: all(i["finite"] > 0 for i in s["images"]))
        assert page.evaluate(ZOOM_JS, [first_run - 5_000, first_run_end - 2_000])
        wait_for(
            page,
            lambda s: (
                abs(s["x0"] - (first_run - 5_000)) < 1
                and all(i["finite"] > 0 and i["x"] < first_run for i in s["images"])
            ),
        )
        assert errors == []
        page.close()
