"""The imbalance heatmap at 600 contracts: zoomed to 40 rows every row in view has its label,
the search box brings a contract into view, and the row order holds across refreshes."""

from __future__ import annotations

import time

import pytest

from tests.ui.conftest import market_of

pytestmark = pytest.mark.ui

CONTRACTS = 600

# The heatmap's y axis: its range, and the label of every tick it draws.
AXIS_JS = """
() => {
  const views = [];
  const walk = (v) => { views.push(v); for (const c of (v.child_views || [])) walk(c); };
  for (const root of Object.values(Bokeh.index)) walk(root);
  for (const v of views) {
    if (v.frame === undefined || !v.model.renderers) continue;
    if (!v.model.renderers.some(r => r.glyph && r.glyph.type === "Image")) continue;
    if (v.el.getBoundingClientRect().width === 0) continue;
    const axis = v.views.find_one(v.model.left[0]);
    const ticks = axis.tick_coords.major[1];
    const labels = axis.model.formatter.format_graphics(ticks, axis).map(b => b.text);
    const r = v.model.y_range;
    return {start: r.start, end: r.end, ticks: ticks, labels: labels,
            height: v.frame.bbox.height};
  }
  return null;
}
"""

ZOOM_JS = """
([low, high]) => {
  for (const root of Object.values(Bokeh.index)) {
    const walk = (v) => {
      if (v.model.renderers && v.model.renderers.some(r => r.glyph && r.glyph.type === "Image")) {
        const r = v.model.y_range;
        if (r.start > r.end) r.setv({start: high, end: low}); else r.setv({start: low, end: high});
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


@pytest.fixture(scope="module")
def market():
    """The dashboard on its own engine, fed by a stand-in of 600 contracts at 1,000 trades/s."""
    with market_of(CONTRACTS) as (url, rt, _):
        yield url, rt


def axis(page) -> dict:
    return page.evaluate(AXIS_JS)


def labelled(state: dict) -> dict[int, str]:
    return {int(t): s for t, s in zip(state["ticks"], state["labels"], strict=True) if s}


def test_zoomed_rows_are_labelled_searchable_and_stay_put(browser, market) -> None:
    url, rt = market
    page = browser.new_page(viewport={"width": 1500, "height": 850})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(url)
        page.locator(".bk-tab", has_text="Imbalance").first.click()
        names = set(rt.engine.registry.active)
        assert len(names) > 590  # the stand-in's 600 less its few non-perpetual contracts
        # All rows in view at first: the axis holds every contract.
        page.wait_for_function(f"() => {{ const a = ({AXIS_JS})(); return a && "
                               f"Math.abs(a.end - a.start) > {len(names) - 2}; }}", timeout=30_000)  # fmt: skip

        assert page.evaluate(ZOOM_JS, [99.5, 139.5])  # rows 100..139
        page.wait_for_timeout(1500)
        state = axis(page)
        labels = labelled(state)
        assert sorted(labels) == list(range(100, 140)), labels
        assert set(labels.values()) <= names and len(set(labels.values())) == 40
        assert state["height"] / 40 >= 10  # room for a label per row

        # Refreshes, across a minute boundary (a new column re-frames the plot): the zoom and
        # the row order hold.
        page.wait_for_timeout(1000 * (63 - time.time() % 60))
        assert labelled(axis(page)) == labels, "the zoom or the row order moved"

        # The search box scrolls to a contract far outside the view.
        target = next(s for s in sorted(names) if s not in labels.values() and s.startswith("S"))
        search = page.locator("input[placeholder='find contract']")
        for _ in range(2):  # a second pick only if the first click missed the menu's item
            search.fill("")
            search.press_sequentially(target, delay=20)
            page.locator(".bk-menu").get_by_text(target, exact=True).first.click()
            if search.input_value() == target:
                break
        assert search.input_value() == target
        # Already zoomed to 40 rows, so wait for the view to move, not for its span.
        page.wait_for_function(
            f"() => {{ const a = ({AXIS_JS})(); return a && Math.abs(a.end - a.start) < 60 && "
            f"a.labels.includes({target!r}); }}",
            timeout=20_000,
        )
        found = labelled(axis(page))
        assert target in found.values()
        assert len(found) >= 38  # every row around it labelled too
        rows = sorted(found)
        assert rows == list(range(rows[0], rows[-1] + 1))
    finally:
        page.close()
    assert errors == [], errors[:5]
