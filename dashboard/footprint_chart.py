"""The footprint chart as HoloViews elements, for one x range: cells and numbers when they fit,
one datashader image of volume at price when they do not.

`main_layers` always returns the same layers in the same order (empty where a mode does not
draw them), as a DynamicMap requires. A layer is plain columns: the DynamicMap makes HoloViews
elements of them, a data-only update (plot_patch.py) sends them to the drawn glyphs as they
are. x is epoch ms (a UTC time axis), y is price.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import datashader as ds
import holoviews as hv
import numpy as np
import pandas as pd
from bokeh.palettes import interp_palette
from holoviews.operation.datashader import rasterize

from dashboard import footprint_glyphs as fg
from dashboard.theme import BUY, NEUTRAL, SELL, TEXT
from pipelines.engine.footprint_source import Studies

CELL_MAX_BARS = 60  # cells are drawn while at most this many bars ...
CELL_MAX_CELLS = 8_000  # ... and (bar, level) cells are in view; beyond, an image
LABEL_MAX_BARS = 18  # numbers are drawn while at most this many bars ...
LABEL_MAX_ROWS = 48  # ... and price levels are in view
SHADINGS = {"delta": "delta", "bid": "bid_volume", "ask": "ask_volume", "volume": "volume"}
# Each shading runs from a dim tone visibly off the background (every traded pixel shows) to
# its full colour in 256 steps. Volumes are coloured on a log scale: linearly, a few heavy
# levels would leave all the others in the darkest step (ranks, "eq_hist", cost the browser half
# a second a day's image). Delta is linear around 0.
_SHADING_CMAPS = {
    "delta": interp_palette(
        [SELL, "#a02828", "#4a2828", "#3a3a3a", "#24473a", "#109a58", BUY], 256
    ),
    "bid": interp_palette(["#3c2828", "#7a2222", "#c03030", SELL], 256),
    "ask": interp_palette(["#203c30", "#1a7a4c", "#10b060", BUY], 256),
    "volume": interp_palette(["#30304a", "#4b4b8a", "#7f6fd0", NEUTRAL], 256),
}
PROFILE_SHARE = 0.12  # the visible-range profile takes this share of the plot's width


@dataclass(frozen=True, slots=True)
class Mark:
    """A box drawn over the bars: a signal's levels in its bar (x: epoch ms, y: price)."""

    time: float
    price: float
    time_end: float
    price_top: float
    label: str = ""


@dataclass(frozen=True, slots=True)
class Frame:
    """What one render draws: the footprint frames in view and how to lay them out."""

    levels: pd.DataFrame  # levels of the bars in view
    bars: pd.DataFrame  # bars in view
    tf_ms: int
    level_size: float
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    mode: str
    shading: str
    width_px: int
    height_px: int
    studies: Studies  # of the bars in view (the volume profile: of the visible range)
    visible_bars: int = 0  # bars and (bar, level) cells inside the x range itself, without
    visible_cells: int = 0  # the margin drawn around it for panning
    mark: Mark | None = None  # a signal's levels, highlighted

    @property
    def draws_cells(self) -> bool:
        return self.visible_bars <= CELL_MAX_BARS and self.visible_cells <= CELL_MAX_CELLS

    @property
    def draws_image(self) -> bool:
        """An image of data (not the empty one drawn under cells or over nothing)."""
        return not self.draws_cells and len(self.levels) > 0

    @property
    def draws_numbers(self) -> bool:
        rows = (self.y_range[1] - self.y_range[0]) / self.level_size
        bars = (self.x_range[1] - self.x_range[0]) / self.tf_ms
        return self.draws_cells and bars <= LABEL_MAX_BARS + 2 and rows <= LABEL_MAX_ROWS


def in_view(levels: pd.DataFrame, bars: pd.DataFrame, tf_ms: int, x0: float, x1: float):
    """The bars (and their levels) that overlap [x0, x1]."""
    if len(bars) == 0:
        return levels, bars
    keep = (bars["bar_time"] + tf_ms > x0) & (bars["bar_time"] < x1)
    bars = bars[keep.to_numpy()]
    if len(levels):
        inside = (levels["bar_time"] + tf_ms > x0) & (levels["bar_time"] < x1)
        levels = levels[inside.to_numpy()]
    return levels, bars


def price_span(bars: pd.DataFrame, level_size: float) -> tuple[float, float] | None:
    """A y range holding every visible bar, with a little room above and below."""
    if len(bars) == 0:
        return None
    lo, hi = float(bars["low"].min()), float(bars["high"].max()) + level_size
    pad = max((hi - lo) * 0.04, level_size)
    return lo - pad, hi + pad


# ------------------------------------------------------------------ layers

_RECT_KDIMS = ("time", "price", "time_end", "price_top")
_RECT_NAMES = {"left": "time", "bottom": "price", "right": "time_end", "top": "price_top"}
# Elements are made for every redraw of every session: dimensions built once and plain dict
# columns (no DataFrame per element) make one about 3x cheaper to construct.
_DIMS: dict[str, hv.Dimension] = {}
_DICT = ["dictionary"]


def _dims(names: tuple[str, ...]) -> list[hv.Dimension]:
    for name in names:
        if name not in _DIMS:
            _DIMS[name] = hv.Dimension(name)
    return [_DIMS[name] for name in names]


@dataclass(frozen=True, slots=True)
class Glyph:
    """One layer of a chart as columns named after its dimensions. The same columns make the
    DynamicMap's element (`element`) and a data-only update of the drawn chart
    (`source_data`, see plot_patch.py), which builds no HoloViews element at all."""

    kind: type[hv.Element]
    kdims: tuple[str, ...]
    vdims: tuple[str, ...]
    data: dict[str, np.ndarray]
    group: str | None = None

    def element(self) -> hv.Element:
        group = {"group": self.group} if self.group else {}
        return self.kind(
            self.data, kdims=_dims(self.kdims), vdims=_dims(self.vdims), datatype=_DICT, **group
        )

    def source_data(self, names: Iterable[str]) -> dict[str, object] | None:
        """The columns `names` of the Bokeh source HoloViews draws this layer from (as its
        plots' get_data makes them); None when one of them is not a column of this layer."""
        data = self.data
        if self.kind is hv.Rectangles:  # quads: corners ordered (RectanglesPlot.get_data)
            x0, y0, x1, y1 = (data[k] for k in self.kdims)
            data = {
                **data, "left": np.minimum(x0, x1), "right": np.maximum(x0, x1),
                "bottom": np.minimum(y0, y1), "top": np.maximum(y0, y1),
            }  # fmt: skip
        names = list(names)
        if any(name not in data for name in names):
            return None
        return {name: data[name] for name in names}


@dataclass(frozen=True, slots=True)
class VolumeImage:
    """The main chart's first layer: volume at price as one datashader image, or an empty
    transparent one while cells are drawn (then the data-only update moves its bounds)."""

    frame: Frame
    kind: type[hv.Element] = hv.Image

    def element(self) -> hv.Image:
        frame = self.frame
        delta = frame.shading == "delta"
        # The empty image's colour scale is any valid one: left to itself, a log scale of
        # nothing but NaN has no range (BokehJS warns of an infinite bound). NaN: from the data.
        clim = (np.nan, np.nan) if frame.draws_image else (1.0, 10.0)
        return raster(frame).opts(
            cmap=list(_SHADING_CMAPS[frame.shading]), symmetric=delta,
            cnorm="linear" if delta else "log", clim=clim,
        )  # fmt: skip

    def source_data(self, names: Iterable[str]) -> dict[str, object] | None:
        """The empty image's columns (RasterPlot.get_data); None for an image of data, whose
        colour scale is an option: only the DynamicMap draws it."""
        if self.frame.draws_image:
            return None
        (x0, x1), (y0, y1) = self.frame.x_range, self.frame.y_range
        data = {"image": [_EMPTY_IMAGE], "x": [x0], "y": [y0], "dw": [x1 - x0], "dh": [y1 - y0]}
        names = list(names)
        return {name: data[name] for name in names} if set(names) <= data.keys() else None


Layer = Glyph | VolumeImage
_EMPTY_IMAGE = np.full((1, 1), np.nan)  # transparent: no colour for a range of nothing


# Colour columns hold indices into fg.INKS; every element that has one is drawn with this
# fixed map (a numeric column, even an empty one, always gets it: live data patches rely on it).
_INK_MAP = {"cmap": list(fg.INKS), "clim": (-0.5, len(fg.INKS) - 0.5), "colorbar": False}


def _rects(data: dict, vdims: tuple[str, ...], group: str) -> Glyph:
    columns = {_RECT_NAMES.get(k, k): np.asarray(v) for k, v in data.items()}
    for name in [*_RECT_KDIMS, *vdims]:
        columns.setdefault(name, np.zeros(0))
    return Glyph(hv.Rectangles, _RECT_KDIMS, vdims, columns, group)


def _segments(x0, y0, x1, y1, group: str, **extra: np.ndarray) -> Glyph:
    columns = {"time": x0, "price": y0, "time_end": x1, "price_top": y1, **extra}
    columns = {k: np.asarray(v) for k, v in columns.items()}
    return Glyph(hv.Segments, _RECT_KDIMS, tuple(extra), columns, group)


def _labels(columns: dict, group: str) -> Glyph:
    data = {"time": columns["x"], "price": columns["y"], "text": columns["text"]}
    data = {k: np.asarray(v) for k, v in data.items()}
    return Glyph(hv.Labels, ("time", "price"), ("text",), data, group)


def raster(frame: Frame) -> hv.Image:
    """Volume at price over the visible range as one image (sum per pixel of the shading)."""
    x0, x1 = frame.x_range
    y0, y1 = frame.y_range
    column = SHADINGS[frame.shading]
    if not frame.draws_image:
        return hv.Image(
            _EMPTY_IMAGE,
            bounds=(x0, y0, x1, y1),
            kdims=["time", "price"],
            vdims=[column],
            group="Volume",
        )
    levels = frame.levels
    if column in levels:  # bid_volume, ask_volume
        value = levels[column].to_numpy(dtype=np.float64)
    else:
        bid = levels["bid_volume"].to_numpy(dtype=np.float64)
        ask = levels["ask_volume"].to_numpy(dtype=np.float64)
        value = ask - bid if column == "delta" else ask + bid
    points = pd.DataFrame(
        {
            "time": levels["bar_time"].to_numpy(dtype=np.float64) + frame.tf_ms / 2,
            "price": levels["price"].to_numpy(dtype=np.float64) + frame.level_size / 2,
            _VALUE: value,
        }
    )
    # A pixel is never smaller than one bar by one level, so a zoomed image keeps its cells.
    image = _sum_image(
        points, (x0, x1), (y0, y1), (max(frame.width_px, 1), max(frame.height_px, 1)),
        (frame.tf_ms, frame.level_size),
    )  # fmt: skip
    # Named after the shading (rasterize names it after the summed column: 'time_price value').
    return image.redim(**{image.vdims[0].name: column}).relabel(group="Volume")


# Every shading is summed from a column of this one name: numba compiles datashader's kernel
# once per column name and process (0.3-0.8 s each), so one name makes it one compilation,
# which `compile_raster` does ahead of the first image.
_VALUE = "value"


_RASTERIZING = threading.Lock()  # a chart's image waits for the compilation, never races it


def _sum_image(points: pd.DataFrame, x_range, y_range, size, sampling) -> hv.Image:
    """The sum of `points[_VALUE]` per pixel of a `size` image of the ranges."""
    with _RASTERIZING:
        return rasterize(
            hv.Points(points, kdims=["time", "price"], vdims=[_VALUE]),
            aggregator=ds.sum(_VALUE), x_range=x_range, y_range=y_range, width=size[0],
            height=size[1], x_sampling=sampling[0], y_sampling=sampling[1], dynamic=False,
        )  # fmt: skip


@functools.cache  # once per process
def compile_raster() -> None:
    """Compile the image's datashader kernel in the background: numba compiles it at its first
    use (about a second of CPU), which the first zoom-out to an image would otherwise wait for."""
    two = pd.DataFrame({"time": [0.0, 1.0], "price": [0.0, 1.0], _VALUE: [1.0, 2.0]})
    args = (two, (0.0, 1.0), (0.0, 1.0), (2, 2), (0.5, 0.5))
    threading.Thread(target=_sum_image, args=args, name="compile-raster", daemon=True).start()


def chart_options() -> list:
    """Styles of the main chart's elements, set once on the DynamicMap (by element group)."""
    return [
        hv.opts.Image(
            "Volume", colorbar=False, alpha=0.95, tools=["hover"],
            clipping_colors={"NaN": "transparent"},
        ),
        hv.opts.Rectangles(
            "Cells", color="color", alpha="alpha", line_width=0, tools=["hover"], **_INK_MAP,
            hover_tooltips=[("price", "@level{0,0.[00000000]}"), ("sells", "@bid{0,0.[000]}"),
                            ("buys", "@ask{0,0.[000]}"), ("delta", "@delta{+0,0.[000]}")],
        ),
        hv.opts.Rectangles(
            "Marks", fill_color="fill_color", fill_alpha="fill_alpha", line_color="line_color",
            line_width="line_width", **_INK_MAP,
        ),
        hv.opts.Segments(
            "Lines", color="color", alpha="alpha", line_width="line_width", **_INK_MAP
        ),
        hv.opts.Segments("Naked", color=NEUTRAL, line_dash="dashed", line_width=1, alpha=0.8),
        hv.opts.Rectangles(
            "Signal", fill_color=NEUTRAL, fill_alpha=0.12, line_color=NEUTRAL, line_width=2,
            line_dash="dashed",
        ),
        hv.opts.Points("Auctions", color="#d0d0d0", marker="x", size=7),
        hv.opts.Points(
            "Orders", color="color", size="size", alpha=0.45, line_color=TEXT, tools=["hover"],
            **_INK_MAP,
        ),
        hv.opts.Labels(
            "Bid", text_align="right", text_baseline="middle", text_font_size="9pt",
            text_color=TEXT,
        ),
        hv.opts.Labels(
            "Ask", text_align="left", text_baseline="middle", text_font_size="9pt",
            text_color=TEXT,
        ),
    ]  # fmt: skip


def main_overlay(frame: Frame, big_orders: pd.DataFrame) -> hv.Overlay:
    """The main chart for this frame as the DynamicMap draws it: `main_layers`' elements."""
    return hv.Overlay([layer.element() for layer in main_layers(frame, big_orders)])


def main_layers(frame: Frame, big_orders: pd.DataFrame) -> list[Layer]:
    """Every layer of the main chart for this frame (cells or image, candles, studies):
    image, cells, marks (bodies, POC boxes, profile), lines (wicks, value areas, stacked
    imbalances), naked POCs, unfinished auctions, big orders, the signal's box, bid numbers,
    ask numbers.

    Over an image, each bar is a column of pixels exactly as tall as its wick: candles, POC
    boxes, value areas and auction marks would cover the heatmap, so only the naked POCs, the
    big orders and the range's profile are drawn over it."""
    tf, level = frame.tf_ms, frame.level_size
    levels, bars = frame.levels, frame.bars
    cells_on = frame.draws_cells and len(levels) > 0
    auctions = frame.studies.auctions if frame.draws_cells else frame.studies.auctions.iloc[:0]
    cell_levels = levels if cells_on else levels.iloc[:0]
    scale = fg.volume_scale(cell_levels, frame.mode)
    cells = fg.cell_columns(cell_levels, tf, level, scale, frame.mode) if cells_on else {}
    cells["level"] = cells.pop("price", np.zeros(0))
    number_levels = cell_levels if frame.draws_numbers else cell_levels.iloc[:0]
    left, right = fg.label_columns(number_levels, tf, level, frame.mode)
    return [
        VolumeImage(frame),
        _rects(cells, ("color", "alpha", "bar_time", "level", "bid", "ask", "delta"), "Cells"),
        _marks(bars if frame.draws_cells else bars.iloc[:0], frame),
        _lines(bars, cell_levels, tf, level, over_image=not frame.draws_cells),
        _naked_segments(frame.studies.naked_pocs, tf, level, frame.x_range[1]),
        _auction_points(auctions, tf, level),
        _big_order_points(big_orders),
        _signal_box(frame.mark),
        _labels(left, "Bid"),
        _labels(right, "Ask"),
    ]


def _marks(bars: pd.DataFrame, frame: Frame) -> Glyph:
    """Candle bodies, POC boxes and the visible range's volume profile, as one glyph."""
    tf, level = frame.tf_ms, frame.level_size
    candles = fg.candle_columns(bars, tf, level)
    poc = fg.profile_columns(bars, tf, level)
    vol = _profile_columns(frame.studies.profile, frame)
    n, m = len(candles["x"]), len(vol["left"])
    return _rects(
        {
            "left": np.r_[candles["left"], poc["poc_left"], vol["left"]],
            "bottom": np.r_[candles["bottom"], poc["poc_bottom"], vol["bottom"]],
            "right": np.r_[candles["right"], poc["poc_right"], vol["right"]],
            "top": np.r_[candles["top"], poc["poc_top"], vol["top"]],
            "fill_color": np.r_[candles["color"], np.full(n, fg.NEUTRAL_INK), vol["color"]],
            "fill_alpha": np.r_[np.ones(n), np.zeros(n), np.full(m, 0.5)],
            "line_color": np.r_[candles["color"], np.full(n, fg.NEUTRAL_INK), vol["color"]],
            "line_width": np.r_[np.ones(n), np.full(n, 1.2), np.zeros(m)],
        },
        ("fill_color", "fill_alpha", "line_color", "line_width"),
        "Marks",
    )


def _lines(
    bars: pd.DataFrame, levels: pd.DataFrame, tf: int, level: float, *, over_image: bool
) -> Glyph:
    """Wicks, value-area lines and stacked-imbalance edges, as one glyph (wicks first). Over
    an image the wicks are transparent and the value areas left out: the wicks stay as data,
    which the page's script keeps the y range on (footprint._FOLLOW_JS)."""
    candles = fg.candle_columns(bars, tf, level)
    va = fg.profile_columns(bars.iloc[:0] if over_image else bars, tf, level)
    stacked = fg.stacked_columns(levels, tf, level)
    n, v, k = len(candles["x"]), len(va["va_x"]), len(stacked["x"])
    return _segments(
        np.r_[candles["x"], va["va_x"], stacked["x"]],
        np.r_[candles["low"], va["va_low"], stacked["bottom"]],
        np.r_[candles["x"], va["va_x"], stacked["x"]],
        np.r_[candles["high"] + level, va["va_high"], stacked["top"]],
        "Lines",
        color=np.r_[np.full(n, fg.WICK_INK), np.full(v, fg.NEUTRAL_INK), stacked["color"]],
        alpha=np.r_[np.full(n, 0.0 if over_image else 1.0), np.full(v, 0.55), np.ones(k)],
        line_width=np.r_[np.ones(n), np.full(v, 2.0), np.full(k, 3.0)],
    )


def _naked_segments(pocs: pd.DataFrame, tf: int, level: float, x_end: float) -> Glyph:
    naked = pocs[pocs["revisited_at"].isna()]
    start = naked["bar_time"].to_numpy(dtype=np.float64) + 0.94 * tf
    y = naked["poc"].to_numpy(dtype=np.float64) + level / 2
    return _segments(start, y, np.maximum(start, x_end), y, "Naked")


def _auction_points(auctions: pd.DataFrame, tf: int, level: float) -> Glyph:
    high = auctions[auctions["unfinished_high"].astype(bool)]
    low = auctions[auctions["unfinished_low"].astype(bool)]
    x = np.r_[high["bar_time"], low["bar_time"]].astype(np.float64) + tf / 2
    y = np.r_[high["high_level"] + 1.5 * level, low["low_level"] - 0.5 * level].astype(float)
    return Glyph(hv.Points, ("time", "price"), (), {"time": x, "price": y}, "Auctions")


def _big_order_points(orders: pd.DataFrame) -> Glyph:
    """Big orders as bubbles at their VWAP and time, area growing with their share of ADV."""
    pct = orders["pct_adv"].to_numpy(dtype=np.float64)
    data = {
        "time": orders["time"].to_numpy(dtype=np.float64),
        "price": orders["vwap"].to_numpy(dtype=np.float64),
        "notional": orders["notional"].to_numpy(dtype=np.float64),
        "size": 8 + 10 * np.sqrt(np.nan_to_num(pct, nan=0.5).clip(0, 4)),
        "color": np.where(orders["side"].to_numpy() == "BUY", fg.BUY_INK, fg.SELL_INK),
    }
    return Glyph(hv.Points, ("time", "price"), ("notional", "size", "color"), data, "Orders")


def _signal_box(mark: Mark | None) -> Glyph:
    """The signal's levels in its bar as one box (none without a signal): over the cells,
    under the numbers, which stay readable through it."""
    marks = [mark] if mark is not None else []
    data: dict[str, np.ndarray] = {
        name: np.array([getattr(m, name) for m in marks], dtype=np.float64) for name in _RECT_KDIMS
    }
    data["signal"] = np.array([m.label for m in marks], dtype=object)
    return Glyph(hv.Rectangles, _RECT_KDIMS, ("signal",), data, "Signal")


def _profile_columns(profile: pd.DataFrame, frame: Frame) -> dict[str, np.ndarray]:
    """The visible range's volume at price, as bars growing left from the right edge: one bar a
    level, or a bar per group of `k` levels when there are more levels than pixel rows (a day
    at one tick: thousands of bars would be drawn over each other)."""
    x0, x1 = frame.x_range
    if len(profile) == 0:
        empty = np.zeros(0)
        return {"left": empty, "bottom": empty, "right": empty, "top": empty, "color": empty}
    price = profile["price"].to_numpy(dtype=np.float64)
    bid = profile["bid_volume"].to_numpy(dtype=np.float64)
    ask = profile["ask_volume"].to_numpy(dtype=np.float64)
    level = frame.level_size
    k = max(1, -(-len(profile) // max(frame.height_px, 1)))  # levels a bar, rounded up
    if k > 1:
        group = np.rint((price - price[0]) / level).astype(np.int64) // k
        bid, ask = np.bincount(group, bid), np.bincount(group, ask)
        price = price[0] + np.arange(len(bid)) * k * level
    total = bid + ask
    full = PROFILE_SHARE * (x1 - x0)
    width = full * total / max(float(total.max()), 1e-12)
    sell_w = width * bid / np.maximum(total, 1e-12)
    edge = np.full(len(price), x1)
    return {
        "left": np.r_[edge - width, edge - width + sell_w],
        "bottom": np.r_[price, price],
        "right": np.r_[edge - width + sell_w, edge],
        "top": np.r_[price, price] + k * level * 0.92,
        "color": np.r_[np.full(len(price), fg.SELL_INK), np.full(len(price), fg.BUY_INK)],
    }


STATS_STYLE = {"text_color": "text_color", "text_font_size": "8pt", "text_baseline": "middle"}
CVD_STYLE = {"color": NEUTRAL, "line_width": 1.6}


def stats_layer(frame: Frame) -> Glyph:
    """The bar-statistics row: volume, delta and trade count under each bar (when readable);
    styled by STATS_STYLE on its DynamicMap."""
    bars = frame.bars if len(frame.bars) <= 2 * LABEL_MAX_BARS else frame.bars.iloc[:0]
    columns = fg.stats_columns(bars, frame.tf_ms)
    data = {
        "time": np.asarray(columns["x"], dtype=np.float64),
        "row": np.asarray(columns["y"], dtype=np.float64),
        "text": np.asarray(columns["text"], dtype=object),
        "text_color": np.asarray(columns["color"], dtype=object),
    }
    return Glyph(hv.Labels, ("time", "row"), ("text", "text_color"), data)


def cvd_layer(bars: pd.DataFrame, tf_ms: int) -> Glyph:
    """Cumulative delta at each bar's close (`cvd` runs from the first loaded bar); styled by
    CVD_STYLE on its DynamicMap."""
    close = bars["bar_time"].to_numpy(dtype=np.float64) + tf_ms if len(bars) else np.zeros(0)
    cvd = bars["cvd"].to_numpy(dtype=np.float64) if len(bars) else np.zeros(0)
    return Glyph(hv.Curve, ("time",), ("cvd",), {"time": close, "cvd": cvd})
