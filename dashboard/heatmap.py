"""Heatmap tab: one contract's resting liquidity over time, with its trades.

The view draws what a `HeatmapSource` (pipelines/engine/heatmap_source.py) gives it for the
plot's window; the source decides buckets, rows, filters, colour limits. A HoloViews
DynamicMap driven by the plot's range (`RangeXY`) and size draws any window, from the last
minute to every stored hour (datashader `rasterize` with `max` once the raster has more
columns or rows than pixels).

Live: the window opens on the last minute with room right of the live edge. Each refresh
samples the book; while the live edge is in the window, the images' changed columns go to the
browser as a `CDS.patch` and the small glyphs as data alone (plot_patch.py), never the whole
image. When the live edge reaches the window's right end, or the price leaves it, the window
moves on (one full redraw). A click sets `clicked` (time, price) for the footprint.

Embeddable: `HeatmapView(symbol="BTCUSDT")` on the process's engine, or
`HeatmapView(engine=my_engine)`, or `HeatmapView(source=HeatmapSource(...))`.
"""

from __future__ import annotations

import html
import time

import holoviews as hv
import panel as pn
import param
from bokeh.models import NumeralTickFormatter

from dashboard import widgets
from dashboard.empty import EmptyState
from dashboard.heatmap_chart import (
    SCALES,
    chart_options,
    glyph_layers,
    heatmap_overlay,
    image_is_raw,
    image_patch,
    sides,
)
from dashboard.live import LiveView
from dashboard.plot_patch import patch_plot
from dashboard.theme import BORDER, MONO, MUTED, plot_opts, utc_time_formatter
from pipelines.analytics.heatmap import LIVE_BUCKETS_MS, TICK_GROUPS
from pipelines.engine.heatmap_source import PERCENTILES, HeatmapSource

LIVE_SPAN_MS = 60_000  # the window a contract opens on ...
LIVE_ROOM = 0.25  # ... and the share of it right of the live edge, filled by patches
OPEN_ROWS = 120  # rows of the opening price window (at the chosen grouping)
IMAGE_REDRAW_S = 5.0  # a regridded (zoomed-out) window follows the live edge this often
ORDER_USD = {"all": 0, "$1k": 1e3, "$10k": 1e4, "$50k": 5e4, "$100k": 1e5, "$500k": 5e5}
TRADE_USD = {"all": 0, "$100": 100, "$1k": 1e3, "$5k": 5e3, "$10k": 1e4, "$50k": 5e4}
_SETTINGS = ("live_bucket", "tick_group", "min_order_usd", "min_trade_usd", "clip")
_PLOT = (1100, 520)  # the plot's size until the browser reports its own


class HeatmapView(LiveView):
    """Liquidity heatmap of one contract, live."""

    source = param.ClassSelector(class_=HeatmapSource, doc="What is drawn (default: new).")
    symbol = param.String(default="BTCUSDT", doc="Contract shown.")
    live_bucket = param.Selector(default=250, objects=list(LIVE_BUCKETS_MS), doc="Live bucket, ms.")
    tick_group = param.Selector(default=1, objects=list(TICK_GROUPS), doc="Ticks per row.")
    min_order_usd = param.Number(
        default=0.0, bounds=(0, None), doc="Smaller resting levels: hidden."
    )
    min_trade_usd = param.Number(default=0.0, bounds=(0, None), doc="Smaller trades: no bubble.")
    clip = param.Selector(default="p99", objects=list(PERCENTILES), doc="Colour scale's top.")
    scale = param.Selector(default="log", objects=list(SCALES), doc="Colour scale.")
    clicked = param.Tuple(default=None, allow_None=True, length=2, doc="(time ms, price) clicked.")

    redraws = param.Integer(default=0, precedence=-1, doc="Bumped for a DynamicMap redraw.")
    patches = param.Integer(default=0, precedence=-1, doc="Live ticks sent as patches.")

    _schedules = (("refresh", 250),)

    def __init__(self, **params: object) -> None:
        if params.get("source") is not None and params.get("engine") is None:
            params["engine"] = params["source"].engine
        super().__init__(**params)
        if self.source is None:
            self.source = HeatmapSource(engine=self.engine, symbol=self.symbol)
        else:
            self.symbol = self.source.symbol
        self.source.param.update({name: getattr(self, name) for name in _SETTINGS})
        self.param.watch(self._to_source, ["symbol", *_SETTINGS])
        self.param.watch(lambda e: self._redraw(), "scale")
        self.param.watch(self._shown, "active")
        self._pane: pn.pane.HoloViews | None = None
        self._plot = None  # the drawn OverlayPlot
        self._ranges: hv.streams.RangeXY | None = None
        self._drawn = None  # (geometry, frame, size, x_range) of the last full draw
        self._drawn_at = 0.0
        self._chart_symbol = ""

    # ------------------------------------------------------------------ layout

    def _layout(self) -> pn.viewable.Viewable:
        self._symbol_input = widgets.symbol_input(self)
        pickers = [
            widgets.RadioButtonGroup(
                options={f"{b} ms": b for b in LIVE_BUCKETS_MS},
                value=self.live_bucket,
                margin=(2, 6),
            ),
            widgets.Select(
                options={f"{g}× tick": g for g in TICK_GROUPS},
                value=self.tick_group,
                width=100,
                margin=(2, 6),
            ),
            widgets.Select(
                options={f"book ≥ {k}": v for k, v in ORDER_USD.items()},
                value=self.min_order_usd,
                width=120,
                margin=(2, 6),
            ),
            widgets.Select(
                options={f"trades ≥ {k}": v for k, v in TRADE_USD.items()},
                value=self.min_trade_usd,
                width=130,
                margin=(2, 6),
            ),
            widgets.Select(options=list(PERCENTILES), value=self.clip, width=70, margin=(2, 6)),
            widgets.Select(options=list(SCALES), value=self.scale, width=80, margin=(2, 6)),
        ]
        names = ("live_bucket", "tick_group", "min_order_usd", "min_trade_usd", "clip", "scale")
        for picker, name in zip(pickers, names, strict=True):
            picker.link(self, value=name, bidirectional=True)
        self._info = pn.pane.HTML(
            "", margin=(6, 8), width=420, height=18,
            styles={"color": MUTED, "font-family": MONO, "font-size": "12px",
                    "text-align": "right", "white-space": "nowrap", "overflow": "hidden"},
        )  # fmt: skip
        controls = pn.Row(
            self._symbol_input, *pickers, pn.layout.HSpacer(), self._info,
            sizing_mode="stretch_width", styles={"border-bottom": f"1px solid {BORDER}"},
        )  # fmt: skip
        self._empty = EmptyState("heatmap")
        self._pane = pn.pane.HoloViews(sizing_mode="stretch_both", min_height=480, margin=0)
        return pn.Column(controls, self._empty, self._pane, sizing_mode="stretch_both", margin=0)

    def __panel__(self) -> pn.viewable.Viewable:
        panel = super().__panel__()
        if self.active:
            self.source.show()
        if pn.state.curdoc is not None:
            pn.state.on_session_destroyed(lambda context: self.source.hide())
        return panel

    def _shown(self, event: param.parameterized.Event) -> None:
        """The book is held only while the view is shown (a stream and REST snapshots)."""
        if not hasattr(self, "_panel"):
            return
        if event.new:
            self.source.show()
        else:
            self.source.hide()

    # ------------------------------------------------------------------ parameters

    def _to_source(self, *events: param.parameterized.Event) -> None:
        self.source.param.update({e.name: e.new for e in events})
        if any(e.name == "symbol" for e in events):
            self._chart_symbol = ""  # a new chart, opened at the new contract's live edge
        if self._pane is not None:
            self._run("refresh")
        if self._chart_symbol:
            self._redraw()

    def _redraw(self) -> None:
        if self._plot is not None:
            self._drawn_at = time.monotonic()
            self.redraws += 1

    # ------------------------------------------------------------------ refresh

    def refresh(self) -> None:
        if self._pane is None:
            return
        names = sorted(self.engine.registry.active | ({self.symbol} if self.symbol else set()))
        if names != self._symbol_input.options:
            self._symbol_input.options = names
        self.source.sample()
        self._show_reason()
        if self.source.spec is None:
            return
        if self._chart_symbol != self.symbol or self._drawn is None:
            if self.source.mid_ticks() is None and self._chart_symbol == self.symbol:
                return  # nothing to open on yet
            self._chart_symbol = self.symbol
            self._pane.object = self._chart()
        elif self._following():
            self._live_tick()
        self._render_status()

    def _show_reason(self) -> None:
        reason = self.source.reason
        if not reason and self.source.mid_ticks() is None:
            reason = self.empty_reason(f"{self.symbol}: no order book yet")
        if reason:
            self._empty.show(reason)
        else:
            self._empty.hide()

    def _following(self) -> bool:
        """The live edge is in the drawn window (the trader is not looking at the past)."""
        if self._drawn is None:
            return False
        x0, x1 = self._drawn[3]
        return x0 <= self.source.live_ms <= x1 + self._drawn[0].bucket_ms

    def _live_tick(self) -> None:
        geometry, frame, size, x_range = self._drawn
        live, mid = self.source.live_ms, self.source.mid_ticks()
        tick = self.source.spec.tick
        y0, y1 = self._ranges.y_range or (0.0, 0.0)
        outside = mid is not None and not (y0 <= mid * tick <= y1)
        if live >= x_range[1] - geometry.bucket_ms or outside or frame.clim is None:
            self._move_window()
            return
        if not image_is_raw(frame, size):
            if time.monotonic() - self._drawn_at >= IMAGE_REDRAW_S:
                self._redraw()
            return
        new = self.source.frame(geometry, visible=x_range)
        if self._patch(new, x_range):
            self._drawn = (geometry, new, size, x_range)
            with param.discard_events(self):
                self.patches += 1

    def _patch(self, new, x_range) -> bool:
        plot = self._plot
        drawn = list(getattr(plot, "subplots", {}).values())
        glyphs = glyph_layers(new, x_range)
        if len(drawn) != 2 + len(glyphs):
            return False
        for sub, (_, values) in zip(drawn[:2], sides(new).items(), strict=True):
            source = sub.handles.get("source")
            if source is None or source.data["image"][0].shape != values.shape:
                return False
            change = image_patch(source.data["image"][0], values)
            if change is not None:
                source.patch({"image": [((0, slice(None), change[0]), change[1])]})
            mapper = sub.handles.get("color_mapper")
            if (
                mapper is not None
                and new.clim is not None
                and (mapper.low, mapper.high) != new.clim
            ):
                mapper.update(low=new.clim[0], high=new.clim[1])
        return all(patch_plot(sub, [layer]) for sub, layer in zip(drawn[2:], glyphs, strict=True))

    def _move_window(self) -> None:
        """Move the window on to the live edge (and the price), as one full redraw."""
        ranges = self._ranges
        x_range, y_range = self._opening_window()
        if ranges is not None:
            ranges.update(x_range=x_range, y_range=y_range)  # no event: the redraw reads them
        self._redraw()
        if self._plot is not None:
            fig = self._plot.state
            fig.x_range.update(start=x_range[0], end=x_range[1])
            fig.y_range.update(start=y_range[0], end=y_range[1])

    def _render_status(self) -> None:
        if self._drawn is None:
            return
        geometry, frame, _, _ = self._drawn
        spec = frame.spec
        self._info.object = (
            f"{html.escape(spec.symbol)} · bucket {_bucket_text(geometry.bucket_ms)} · "
            f"row {spec.format_price(geometry.ticks_per_row)} · "
            f"{len(frame.bubbles.time):,} bubbles"
        )

    # ------------------------------------------------------------------ chart

    def _opening_window(self) -> tuple[tuple[float, float], tuple[float, float]]:
        source = self.source
        live = source.live_ms
        x_range = (live - (1 - LIVE_ROOM) * LIVE_SPAN_MS, live + LIVE_ROOM * LIVE_SPAN_MS)
        mid = source.mid_ticks() or 0
        half = OPEN_ROWS // 2 * self.tick_group
        tick = source.spec.tick
        return x_range, ((mid - half) * tick, (mid + half) * tick)

    def _chart(self) -> hv.DynamicMap:
        x_first, y_first = self._opening_window()
        ranges = self._ranges = hv.streams.RangeXY(x_range=x_first, y_range=y_first)
        size = hv.streams.PlotSize()
        version = hv.streams.Params(self, ["redraws"], rename={"redraws": "version"})
        tap = hv.streams.SingleTap(transient=True)
        tap.add_subscriber(self._tapped)

        def draw(x_range, y_range, width, height, scale, version):
            x_range = x_range or x_first
            y_range = y_range or y_first
            plot_size = (int(width or _PLOT[0]), int(height or _PLOT[1]))
            geometry = self.source.geometry(x_range, y_range, *plot_size)
            frame = self.source.frame(geometry, visible=x_range)
            self._drawn = (geometry, frame, plot_size, tuple(x_range))
            self._drawn_at = time.monotonic()
            return heatmap_overlay(frame, x_range, plot_size, self.scale)

        def keep(plot, element) -> None:
            self._plot = plot

        dmap = hv.DynamicMap(draw, streams=[ranges, size, version], cache_size=1)
        tap.source = dmap
        return dmap.opts(
            *chart_options(),
            hv.opts.Overlay(
                **plot_opts(
                    min_height=420, ylabel="", xlabel="", xformatter=utc_time_formatter(),
                    default_tools=["pan", "wheel_zoom", "box_zoom", "reset", "hover"],
                    active_tools=["pan", "wheel_zoom"],
                ),
                xlim=x_first, ylim=y_first, framewise=False,
                yformatter=NumeralTickFormatter(format="0,0.[00000000]"), hooks=[keep],
            ),
        )  # fmt: skip

    def _tapped(self, x=None, y=None) -> None:
        if x is not None and y is not None:
            self.clicked = (int(x), float(y))

    def goto(self, time_ms: int) -> None:
        """Centre the window on `time_ms` (a click on the footprint), keeping its span."""
        if self._ranges is None or self._drawn is None:
            return
        x0, x1 = self._drawn[3]
        half = (x1 - x0) / 2
        self._ranges.update(x_range=(time_ms - half, time_ms + half))
        self._redraw()
        if self._plot is not None:
            self._plot.state.x_range.update(start=time_ms - half, end=time_ms + half)


def _bucket_text(ms: int) -> str:
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms // 1000} s"
    return f"{ms // 60_000} min"
