"""The liquidity heatmap as HoloViews elements, for one `HeatmapFrame`: resting bids and asks as
two images, the verified band, best bid/ask, trade bubbles and the visible-range profile.

`heatmap_layers` always returns the same layers in the same order (a DynamicMap requires it).
Glyph layers are plain columns (footprint_chart.Glyph), so a live tick sends them to the drawn
glyphs as data alone (plot_patch.py); the images' live columns go as a `CDS.patch`
(`image_patch`). x is epoch ms (a UTC time axis), y is price.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
from bokeh.palettes import interp_palette
from holoviews.operation.datashader import rasterize

from dashboard.footprint_chart import Glyph, _rects, _segments
from dashboard.theme import BUY, MUTED, SELL, TEXT
from pipelines.engine.heatmap_source import HeatmapFrame

BID_CMAP = list(interp_palette(["#0f2a20", "#12603c", "#10a060", BUY], 256))
ASK_CMAP = list(interp_palette(["#2e1414", "#702020", "#c03030", SELL], 256))
SCALES = ("log", "linear")
PROFILE_SHARE = 0.10  # the visible-range profile takes this share of the plot's width
BUBBLE_PX = (3.0, 26.0)  # smallest and largest bubble diameter
_UNSCALED = (1.0, 10.0)  # a scale for an image of nothing (a log scale needs a range)


def sides(frame: HeatmapFrame) -> dict[str, np.ndarray]:
    return {"Bids": frame.bids, "Asks": frame.asks}


def image(frame: HeatmapFrame, group: str, size: tuple[int, int], scale: str) -> hv.Image:
    """One side's resting size; regridded to the plot's pixels with `max` when the raster has
    more columns or rows than pixels (zoomed out: a wall stays as strong as it was)."""
    values = sides(frame)[group]
    element = hv.Image(
        np.flipud(values), bounds=frame.bounds(), kdims=["time", "price"], vdims=["size"],
        group=group,
    )  # fmt: skip
    width, height = max(size[0], 1), max(size[1], 1)
    if values.shape[1] > width or values.shape[0] > height:
        element = rasterize(
            element, aggregator="max", width=min(width, values.shape[1]),
            height=min(height, values.shape[0]), dynamic=False,
        ).relabel(group=group)  # fmt: skip
    cmap = BID_CMAP if group == "Bids" else ASK_CMAP
    return element.opts(cmap=cmap, cnorm=scale, clim=frame.clim or _UNSCALED)


def image_is_raw(frame: HeatmapFrame, size: tuple[int, int]) -> bool:
    """The images are drawn at the raster's own grid (so a live column can be patched)."""
    rows, columns = frame.bids.shape
    return columns <= max(size[0], 1) and rows <= max(size[1], 1)


def image_patch(old: np.ndarray, new: np.ndarray) -> tuple[slice, np.ndarray] | None:
    """The columns of a drawn image (as the Bokeh source holds it: row 0 the lowest price) that
    differ in `new`, as one slice and its values flattened for `CDS.patch`; None: no change."""
    if old.shape != new.shape:
        raise ValueError("a patch needs the drawn image's shape")
    changed = ~((old == new) | (np.isnan(old) & np.isnan(new))).all(axis=0)
    where = np.flatnonzero(changed)
    if len(where) == 0:
        return None
    cols = slice(int(where[0]), int(where[-1]) + 1)
    return cols, np.ascontiguousarray(new[:, cols]).ravel()


def _edge_segments(frame: HeatmapFrame, ticks: np.ndarray, group: str) -> Glyph:
    g = frame.geometry
    has = ticks >= 0
    start = g.start_ms + g.bucket_ms * np.flatnonzero(has).astype(np.float64)
    price = ticks[has] * frame.tick
    return _segments(start, price, start + g.bucket_ms, price, group)


def glyph_layers(frame: HeatmapFrame, x_range: tuple[float, float]) -> list[Glyph]:
    """Band, best bid, best ask, buy and sell bubbles, profile buys and sells."""
    edges, tick = frame.edges, frame.tick
    # The band's low edge sits under the lowest verified bid, its high edge over the highest
    # verified ask: drawn at the outer side of those rows.
    band = _edge_segments(frame, edges.band_low, "Band")
    high = _edge_segments(frame, np.where(edges.band_high >= 0, edges.band_high + 1, -1), "Band")
    band = Glyph(
        band.kind, band.kdims, band.vdims,
        {k: np.concatenate([band.data[k], high.data[k]]) for k in band.data}, "Band",
    )  # fmt: skip
    layers = [
        band,
        _edge_segments(frame, edges.best_bid, "BestBid"),
        _edge_segments(frame, np.where(edges.best_ask >= 0, edges.best_ask + 1, -1), "BestAsk"),
    ]
    bubbles, g = frame.bubbles, frame.geometry
    qty = bubbles.qty * frame.step
    biggest = float(qty.max()) if len(qty) else 1.0
    small, large = BUBBLE_PX
    for group, side in (("Buys", ~bubbles.sell), ("Sells", bubbles.sell)):
        data = {
            "time": bubbles.time[side] + g.bucket_ms / 2,
            "price": (bubbles.price[side] + g.ticks_per_row / 2) * tick,
            "size": small + (large - small) * np.sqrt(qty[side] / biggest),
            "qty": qty[side],
            "usd": bubbles.notional[side] * tick * frame.step,
        }
        layers.append(Glyph(hv.Points, ("time", "price"), ("size", "qty", "usd"), data, group))
    layers += _profile(frame, x_range)
    return layers


def _profile(frame: HeatmapFrame, x_range: tuple[float, float]) -> list[Glyph]:
    """Buys and sells per row over the visible time range, drawn at its right edge: sells
    from the edge leftwards, buys after them."""
    profile, tick = frame.profile, frame.tick
    total = (profile.buys + profile.sells).astype(np.float64)
    rows = np.flatnonzero(total > 0)
    x0, x1 = x_range
    width = (x1 - x0) * PROFILE_SHARE / max(float(total.max()) if len(total) else 1.0, 1.0)
    low = (profile.price_low + rows * profile.ticks_per_row) * tick
    top = low + profile.ticks_per_row * tick
    sells = x1 - profile.sells[rows] * width
    buys = sells - profile.buys[rows] * width
    x1s = np.full(len(rows), float(x1))
    return [
        _rects({"left": sells, "bottom": low, "right": x1s, "top": top}, (), "ProfileSells"),
        _rects({"left": buys, "bottom": low, "right": sells, "top": top}, (), "ProfileBuys"),
    ]


def heatmap_overlay(
    frame: HeatmapFrame, x_range: tuple[float, float], size: tuple[int, int], scale: str
) -> hv.Overlay:
    layers = [image(frame, group, size, scale) for group in ("Bids", "Asks")]
    layers += [layer.element() for layer in glyph_layers(frame, x_range)]
    return hv.Overlay(layers)


def chart_options() -> list:
    """Styles of the heatmap's elements, set once on the DynamicMap (by element group)."""
    image_style = dict(colorbar=False, alpha=0.95, clipping_colors={"NaN": "transparent"},
                       tools=["hover"])  # fmt: skip
    return [
        hv.opts.Image("Bids", **image_style),
        hv.opts.Image("Asks", **image_style),
        hv.opts.Segments("Band", color=MUTED, line_dash="dotted", line_width=1, alpha=0.7),
        hv.opts.Segments("BestBid", color=BUY, line_width=1.5),
        hv.opts.Segments("BestAsk", color=SELL, line_width=1.5),
        hv.opts.Points(
            "Buys", color=BUY, size="size", alpha=0.55, line_color=TEXT, tools=["hover"]
        ),
        hv.opts.Points(
            "Sells", color=SELL, size="size", alpha=0.55, line_color=TEXT, tools=["hover"]
        ),
        hv.opts.Rectangles("ProfileBuys", color=BUY, alpha=0.35, line_width=0),
        hv.opts.Rectangles("ProfileSells", color=SELL, alpha=0.35, line_width=0),
    ]
