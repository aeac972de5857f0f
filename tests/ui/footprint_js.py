"""Reads of the footprint chart out of the page's Bokeh document, for the browser tests."""

from __future__ import annotations

import pandas as pd

# Column sources by what they hold: the cells (bid/ask per level), the numbers (text at a
# position), the image (datashader), the CVD curve (one point per bar close).
SOURCES_JS = """
() => {
  const out = {cells: [], numbers: [], images: [], bars: []};
  for (const doc of Bokeh.documents) {
    for (const m of doc._all_models.values()) {
      const d = m.data;
      if (!d) continue;
      if (d.bar_time !== undefined && d.bid !== undefined && d.level !== undefined) {
        out.cells.push({bar_time: Array.from(d.bar_time), price: Array.from(d.level),
                        bid: Array.from(d.bid), ask: Array.from(d.ask)});
      } else if (d.text !== undefined && d.price !== undefined && d.row === undefined) {
        out.numbers.push({x: Array.from(d.time), y: Array.from(d.price),
                          text: Array.from(d.text)});
      } else if (d.image !== undefined) {
        const img = d.image[0];
        let filled = 0;
        if (img) for (const v of img) if (v !== 0 && !Number.isNaN(v)) filled++;
        out.images.push({filled: filled, size: img ? img.length : 0, y: d.y[0], dh: d.dh[0]});
      } else if (d.cvd !== undefined && d.time.length > 0) {
        out.bars.push({close: Array.from(d.time)});
      }
    }
  }
  return out;
}
"""

# Sets the footprint's time axis to [start, end] (epoch ms) as a pan or zoom would: the range,
# then the RangesUpdate event the server listens to. False when there is no chart yet.
SET_RANGE_JS = """
([start, end]) => {
  const views = [];
  const walk = (v) => { views.push(v); for (const c of (v.child_views || [])) walk(c); };
  for (const root of Object.values(Bokeh.index)) walk(root);
  for (const v of views) {
    const m = v.model;
    if (m.x_range === undefined || m.renderers === undefined) continue;
    if (m.renderers.some(r => r.data_source && r.data_source.data.bid !== undefined)) {
      m.x_range.setv({start: start, end: end});
      v.trigger_ranges_update_event();
      return true;
    }
  }
  return false;
}
"""

# Zooms the footprint's time axis to the last five minutes of what it shows.
ZOOM_JS = """
() => {
  for (const doc of Bokeh.documents) {
    for (const m of doc._all_models.values()) {
      if (m.x_range === undefined || m.renderers === undefined) continue;
      if (m.renderers.some(r => r.data_source && r.data_source.data.bid !== undefined)) {
        m.x_range.setv({start: m.x_range.end - 5 * 60000});
        return true;
      }
    }
  }
  return false;
}
"""


# The footprint's x and y ranges, and the segments its y rule reads (footprint._FOLLOW_JS):
# wicks, value areas and stacked imbalances, as x, low and top.
FOLLOW_JS = """
() => {
  for (const doc of Bokeh.documents) {
    for (const m of doc._all_models.values()) {
      if (m.x_range === undefined || m.renderers === undefined) continue;
      if (!m.renderers.some(r => r.data_source && r.data_source.data.bid !== undefined)) continue;
      const lines = m.renderers.find(r => r.glyph && r.glyph.type === "Segment");
      const d = lines.data_source.data;
      return {x0: m.x_range.start, x1: m.x_range.end, y0: m.y_range.start, y1: m.y_range.end,
              time: Array.from(d.time), low: Array.from(d.price), top: Array.from(d.price_top)};
    }
  }
  return null;
}
"""


def frames(sources: dict, kind: str) -> pd.DataFrame:
    parts = [pd.DataFrame(p) for p in sources[kind]]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def numbers(sources: dict, tf_ms: int, level_size: float) -> pd.DataFrame:
    """The cell numbers with the bar and level they label: left of a bar's centre the taker
    sells (bid), right of it the taker buys (ask); a number sits mid-level."""
    texts = frames(sources, "numbers")
    if len(texts) == 0:
        return pd.DataFrame(columns=["bar_time", "price", "kind", "text"])
    bar_time = (texts["x"] // tf_ms * tf_ms).astype("int64")
    centre = bar_time + tf_ms / 2
    return pd.DataFrame(
        {
            "bar_time": bar_time,
            "price": texts["y"] - level_size / 2,
            "kind": ["bid" if x < c else "ask" for x, c in zip(texts["x"], centre, strict=True)],
            "text": texts["text"],
        }
    )
