"""Footprint tab: one contract's candles filled with taker volume per price level.

The view renders what a `FootprintSource` (pipelines/engine/footprint_source.py) holds; it
decides nothing about the data. A HoloViews DynamicMap driven by the plot's range (`RangeXY`)
and the source's `version` draws what is in view: cells with bid × ask numbers when few bars
are in view, one datashader image of volume at price when too many levels would be drawn.
Panning before the loaded range asks the source for older bars. The y range follows the visible
bars in the browser (a CustomJS on the x range), and the view follows the live bar while its
right edge is at it. A click sets `clicked`; `goto` centres the bars on a time (the
heatmap's click). `show_signal` opens a signal's bar with its levels boxed (the Signals
tab's click).

Embeddable: `FootprintView(symbol="BTCUSDT")` on the process's engine, or
`FootprintView(source=FootprintSource(engine=my_engine, symbol="ETHUSDT"))`.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass

import holoviews as hv
import panel as pn
import param
from bokeh.models import CustomJS, NumeralTickFormatter

from dashboard import footprint_glyphs as fg
from dashboard import widgets
from dashboard.footprint_chart import (
    CVD_STYLE,
    SHADINGS,
    STATS_STYLE,
    Frame,
    Mark,
    chart_options,
    compile_raster,
    cvd_layer,
    in_view,
    main_layers,
    main_overlay,
    price_span,
    stats_layer,
)
from dashboard.live import LiveView
from dashboard.plot_patch import patch_plot
from dashboard.theme import BORDER, MONO, MUTED, NEUTRAL, plot_opts, utc_time_formatter
from pipelines.analytics.footprint import BIN_MULTIPLES, TIMEFRAMES_MS
from pipelines.engine.footprint_source import FootprintSource

RATIOS = {"150 %": 1.5, "200 %": 2.0, "250 %": 2.5, "300 %": 3.0, "400 %": 4.0, "500 %": 5.0}
VISIBLE_BARS = 14  # bars in view when a contract opens: every level's numbers readable
LIVE_REDRAW_S = 1.4  # the live bar is redrawn at most this often ...
LIVE_IMAGE_REDRAW_S = 5.0  # ... and this often while the view is one image (a day or more)
_PLOT_WIDTH, _PLOT_HEIGHT = 1100, 520  # the image's size until the browser reports its own

# The live-follow rule, one definition for the page (_FOLLOW_JS) and the server
# (FootprintView._follow_live_bar): while the live wick lies between FOLLOW_FROM bars left and
# FOLLOW_TO bars right of the view's right edge, a new bar moves the view so that the edge is
# FOLLOW_ROOM bars right of the wick (room for the volume profile).
FOLLOW_FROM, FOLLOW_TO, FOLLOW_ROOM = 2.5, 4.0, 3.0

# In the browser: keep every visible bar in the y range, and follow the live bar.
_FOLLOW_JS = """
const d = wicks.data, t = d['time'], lo = d['price'], hi = d['price_top'];
if (!t || t.length === 0) return;
let last = -Infinity;
for (let i = 0; i < t.length; i++) last = Math.max(last, t[i]);
const x0 = xr.start, x1 = xr.end;
if (cb_obj === wicks && last > x1 - follow_from * tf && last < x1 + follow_to * tf) {
  // The server made the same shift when it sent this bar (FootprintView._follow_live_bar):
  // no range event, so no full redraw.
  const shift = last + follow_room * tf - x1;
  xr.setv({start: x0 + shift, end: x1 + shift});
  return;
}
// The bars in view as the server counts them (footprint_chart.in_view and price_span).
let y0 = Infinity, y1 = -Infinity;
for (let i = 0; i < t.length; i++) {
  if (t[i] + tf / 2 > xr.start && t[i] - tf / 2 < xr.end) {
    y0 = Math.min(y0, lo[i]); y1 = Math.max(y1, hi[i]);
  }
}
if (y0 < y1) {
  const pad = Math.max((y1 - y0) * 0.04, level);
  yr.setv({start: y0 - pad, end: y1 + pad});
}
"""


@dataclass(frozen=True, slots=True)
class ShownSignal:
    """A signal the view was asked to show (`FootprintView.show_signal`): its bar is framed
    and its levels boxed while the chart is of its contract and timeframe."""

    symbol: str
    timeframe: str
    bar_time: int  # bar open, epoch ms
    price_low: float  # lower edges of its lowest and highest levels
    price_high: float
    bin_ticks: int  # a level, in ticks
    label: str = ""


class FootprintView(LiveView):
    """Footprint candles of one contract, live."""

    source = param.ClassSelector(class_=FootprintSource, doc="What is drawn (default: new).")
    symbol = param.String(default="BTCUSDT", doc="Contract shown.")
    timeframe = param.Selector(default="1m", objects=list(TIMEFRAMES_MS), doc="Bar length.")
    price_bin = param.Integer(default=0, bounds=(0, None), doc="Level in ticks; 0 = automatic.")
    imbalance_ratio = param.Number(default=3.0, bounds=(1.0, 20.0), doc="Diagonal ratio.")
    mode = param.Selector(default="bid × ask", objects=list(fg.MODES), doc="What a level shows.")
    shading = param.Selector(default="volume", objects=list(SHADINGS), doc="Image shading.")

    clicked = param.Tuple(default=None, allow_None=True, length=2, doc="(time ms, price) clicked.")
    redraws = param.Integer(default=0, precedence=-1, doc="Bumped for a DynamicMap redraw.")
    patches = param.Integer(
        default=0, precedence=-1, doc="Changes sent to the drawn chart as data alone."
    )

    _schedules = (("refresh", 700),)

    def __init__(self, **params: object) -> None:
        if params.get("source") is not None and params.get("engine") is None:
            params["engine"] = params["source"].engine
        super().__init__(**params)
        compile_raster()  # before the first zoom-out to an image needs it
        if self.source is None:
            self.source = FootprintSource(engine=self.engine, symbol=self.symbol)
        else:
            self.symbol = self.source.symbol
        for name in ("symbol", "timeframe", "price_bin", "imbalance_ratio"):
            if name != "symbol" or self.source.symbol != self.symbol:
                setattr(self.source, name, getattr(self, name))
        self.param.watch(self._to_source, ["symbol", "timeframe", "price_bin", "imbalance_ratio"])
        self._pane: pn.pane.HoloViews | None = None
        self._chart_key: tuple = ()
        self._frame_cache: tuple[tuple, tuple, Frame | None] = ((), (), None)
        self._pending = False  # the source changed since the last redraw
        self._structural = False  # ... in more than its live bar
        self._drawn_at = 0.0
        self._x_seen = (-float("inf"), float("inf"))  # the time range last drawn
        self._plots: dict[str, object] = {}  # the drawn HoloViews plots, for live patches
        self._streams: tuple = ()  # (RangeXY, PlotSize) of the drawn chart
        self._x_stream: hv.streams.RangeX | None = None  # the x range of the charts below it
        self._drawn_cells = True  # the chart last drawn by the DynamicMap holds cells
        self._follow_code: CustomJS | None = None  # the page's follow script (_FOLLOW_JS)
        self._signal: ShownSignal | None = None  # framed and boxed (show_signal)
        self.source.param.watch(self._source_changed, "version")

    # ------------------------------------------------------------------ layout

    def _layout(self) -> pn.viewable.Viewable:
        self._symbol_input = widgets.symbol_input(self)
        tf_input = widgets.RadioButtonGroup(
            options=list(TIMEFRAMES_MS), value=self.timeframe, margin=(2, 6)
        )
        tf_input.link(self, value="timeframe", bidirectional=True)
        self._bin_input = widgets.Select(
            options=self._bin_options(), value=self.price_bin, width=130, margin=(2, 6)
        )
        self._bin_input.link(self, value="price_bin", bidirectional=True)
        ratio_input = widgets.Select(
            options=RATIOS, value=self.imbalance_ratio if self.imbalance_ratio in RATIOS.values() else 3.0,
            width=90, margin=(2, 6),
        )  # fmt: skip
        ratio_input.link(self, value="imbalance_ratio", bidirectional=True)
        mode_input = widgets.RadioButtonGroup(
            options=list(fg.MODES), value=self.mode, margin=(2, 6)
        )
        mode_input.link(self, value="mode", bidirectional=True)
        shading_input = widgets.Select(
            options=list(SHADINGS), value=self.shading, width=80, margin=(2, 6)
        )
        shading_input.link(self, value="shading", bidirectional=True)
        style = {"color": MUTED, "font-family": MONO, "font-size": "12px"}
        # A fixed box: its text changes with every refresh, and a pane that may change size
        # makes the browser lay the whole page out again each time.
        self._info = pn.pane.HTML(
            "", margin=(6, 8), width=400, height=18,
            styles={**style, "text-align": "right", "white-space": "nowrap", "overflow": "hidden"},
        )  # fmt: skip
        self._progress = pn.indicators.Progress(
            value=0, max=100, width=90, height=10, visible=False, bar_color="warning",
            margin=(10, 6),
        )  # fmt: skip
        self._progress_text = pn.pane.HTML(
            "", visible=False, margin=(6, 4), styles={"color": NEUTRAL, "font-size": "12px"}
        )
        controls = pn.Row(
            self._symbol_input, tf_input, self._bin_input, ratio_input, mode_input,
            shading_input, self._progress, self._progress_text, pn.layout.HSpacer(), self._info,
            sizing_mode="stretch_width", styles={"border-bottom": f"1px solid {BORDER}"},
        )  # fmt: skip
        self._pane = pn.pane.HoloViews(
            sizing_mode="stretch_both", min_height=560, linked_axes=True, margin=0
        )
        return pn.Column(controls, self._pane, sizing_mode="stretch_both", margin=0)

    # ------------------------------------------------------------------ signals

    def show_signal(
        self,
        symbol: str,
        timeframe: str,
        bar_time: int,
        price_low: float,
        price_high: float,
        bin_ticks: int,
        label: str = "",
    ) -> None:
        """Open `symbol` at `timeframe` on the bar that opened at `bar_time` (epoch ms), with the
        levels from `price_low` to `price_high` (their lower edges, `bin_ticks` ticks a level)
        boxed. Bars before the loaded range are loaded. The chart takes the signal's bin when
        its own differs, so the boxed levels are its cells; the box goes with the next contract
        or timeframe."""
        self._signal = ShownSignal(
            symbol, timeframe, int(bar_time), float(price_low), float(price_high),
            int(bin_ticks), label,
        )  # fmt: skip
        self._chart_key = ()  # a new chart, opened on the signal's bar
        with pn.io.hold():
            self.param.update(symbol=symbol, timeframe=timeframe)
            source = self.source
            if source.known and source.rules is not None and source.bin_ticks != bin_ticks:
                self.price_bin = int(bin_ticks)
            if self._pane is not None:
                self._run("refresh")

    def _signal_here(self) -> ShownSignal | None:
        shown, source = self._signal, self.source
        if shown is None or (shown.symbol, shown.timeframe) != (source.symbol, source.timeframe):
            return None
        return shown

    def _signal_mark(self) -> Mark | None:
        shown = self._signal_here()
        if shown is None or not self.source.known:
            return None
        level = float(self.source.spec.ticks_to_price(shown.bin_ticks))
        return Mark(
            time=shown.bar_time, price=shown.price_low, time_end=shown.bar_time + self.source.tf_ms,
            price_top=shown.price_high + level, label=shown.label,
        )  # fmt: skip

    def _opening_range(self) -> tuple[float, float]:
        """The x range a new chart opens on: the last bars and room right of the live bar for
        the volume profile, or, for a signal, its bar near the middle."""
        source = self.source
        tf = source.tf_ms
        end = source.live_start + 3 * tf
        shown = self._signal_here()
        if shown is not None:
            end = min(end, shown.bar_time + (VISIBLE_BARS // 2 + 2) * tf)
        return (end - (VISIBLE_BARS + 3) * tf, end)

    # ------------------------------------------------------------------ parameters

    def _to_source(self, *events: param.parameterized.Event) -> None:
        # One update: the source rebuilds once, with every value given (a choice made while
        # it rebuilds is applied right after it, see FootprintSource.refresh).
        self.source.param.update({e.name: e.new for e in events})
        if self._pane is not None:
            self._run("refresh")

    # ------------------------------------------------------------------ refresh

    def refresh(self) -> None:
        registry = self.engine.registry
        if self._pane is not None:
            # The shown contract stays an option (a restricted input would clear it otherwise,
            # e.g. while the contract list is still loading).
            names = sorted(registry.active | ({self.symbol} if self.symbol else set()))
            if names != self._symbol_input.options:
                self._symbol_input.options = names
        if not self.source.known:
            # An exchange-supplied name is text, never markup.
            self._info.object = f"{html.escape(self.symbol)}: waiting for the contract list"
            return
        self.source.refresh()
        self._follow_level()
        if self.price_bin == 0 or self.price_bin != self.source.bin_ticks:
            self._update_bin_options()
        key = (self.source.symbol, self.source.timeframe)
        if self._pane is not None and key != self._chart_key and self.source.rules is not None:
            self._chart_key = key
            if self._signal_here() is None:
                self._signal = None  # another contract or timeframe: the box goes
            self._pending = self._structural = False  # a new chart draws the source as it is
            self._pane.object = self._chart()
        else:
            self._redraw_if_due()
        self._render_status()

    def _source_changed(self, event: param.parameterized.Event) -> None:
        self._pending = True
        self._structural = self._structural or self.source.change != "live"

    def _redraw_if_due(self) -> None:
        """Draw any change of the source: a rule change, a closed bar or loaded history at
        once; a live bar at most every LIVE_REDRAW_S (LIVE_IMAGE_REDRAW_S while the view is an
        image), and not while it is out of view (a pan back draws it anyway)."""
        if not self._pending:
            return
        now = time.monotonic()
        if not self._structural:
            every = LIVE_REDRAW_S if self._drawn_cells else LIVE_IMAGE_REDRAW_S
            if now - self._drawn_at < every:
                return
            x0, x1 = self._x_seen
            live = self.source.live_start
            if live + self.source.tf_ms < x0 or live > x1:
                return
        self._pending = self._structural = False
        self._drawn_at = now
        if not self._patch():
            self.redraws += 1

    def _patch(self) -> bool:
        """Send the source's new data to the drawn chart as data alone (see plot_patch): the
        x range, the layers and their styles stay as drawn. False when the DynamicMap must
        redraw: nothing drawn yet, or an image (drawn or due: its colour scale is an option)."""
        if len(self._plots) < 3 or not self._streams or not self._drawn_cells:
            return False
        ranges, size = self._streams
        self._follow_live_bar()
        frame = self.frame(ranges.x_range, ranges.y_range, size.width, size.height)
        if not frame.draws_cells:
            return False
        orders = self.source.big_orders(frame.x_range[0] - frame.tf_ms, frame.x_range[1])
        cvd = cvd_layer(frame.bars, frame.tf_ms)
        patched = (
            patch_plot(self._plots["main"], main_layers(frame, orders))
            and patch_plot(self._plots["stats"], [stats_layer(frame)])
            and patch_plot(self._plots["cvd"], [cvd])
        )
        if patched and len(frame.bars):  # the CVD's y range is framewise: it follows the data
            values = cvd.data["cvd"]
            lo, hi = float(values.min()), float(values.max())
            pad = max((hi - lo) * 0.1, 1e-9)
            self._plots["cvd"].handles["y_range"].update(start=lo - pad, end=hi + pad)
        if patched:
            # Silently: no redraw now, but the DynamicMap's key moves on, so a later redraw
            # (a pan back to a range seen before) never reuses an element older than the data.
            with param.discard_events(self):
                self.patches += 1
        return patched

    def _follow_live_bar(self) -> None:
        """While the view's right edge is at the live bar, a new bar moves the view with it:
        the FOLLOW_ rule, applied here to the plot's range streams without an event, so
        the data-only patch is drawn for the range the browser will show (a range event would
        redraw the whole chart, in every session at once, at each minute)."""
        ranges, _ = self._streams
        if ranges.x_range is None or None in ranges.x_range:
            return
        x0, x1 = ranges.x_range
        tf = self.source.tf_ms
        last = self.source.live_start + tf / 2  # the live wick's x
        if x1 - FOLLOW_FROM * tf < last < x1 + FOLLOW_TO * tf:
            shift = last + FOLLOW_ROOM * tf - x1
            for stream in (ranges, self._x_stream):
                if stream is not None:
                    stream.update(x_range=(x0 + shift, x1 + shift))

    def _bin_options(self) -> dict[str, int]:
        """Bins offered: the usual multiples of the tick, the automatic one and the chosen one
        (always an option: a Select whose value leaves its options resets it to "auto")."""
        bins = sorted({*BIN_MULTIPLES, self.source.bin_ticks, self.price_bin} - {0})
        spec = self.source.spec if self.source.known else None
        label = (lambda m: f"{spec.format_price(m)} ({m}×)") if spec else (lambda m: f"{m}×")
        return {"auto": 0} | {label(m): m for m in bins}

    def _update_bin_options(self) -> None:
        if self._pane is None:
            return
        options = self._bin_options()
        if options != self._bin_input.options:
            self._bin_input.options = options

    def _render_status(self) -> None:
        _, bars = self.source.frames()
        level = self.source.level_size
        self._info.object = (
            f"{len(bars):,} bars · {int(bars['trades'].sum()):,} trades · bin {level:,.8g}"
            if len(bars)
            else "no trades yet"
        )
        fraction, text = self.source.progress()
        self._progress.visible = self._progress_text.visible = fraction < 1.0
        self._progress.value = int(fraction * 100)
        self._progress_text.object = text

    # ------------------------------------------------------------------ chart

    def frame(self, x_range=None, y_range=None, width=None, height=None) -> Frame:
        """What the chart draws for this range (the opening view when no range is known yet)."""
        key = (self.source.version, x_range, self.mode, self.shading, self._signal)
        view = (y_range, width, height)
        cached_key, cached_view, frame = self._frame_cache
        # The three charts of one update share one frame: the two below the main one ask with
        # the x range alone and draw only its bars, which the rest of the view does not change.
        if frame is None or cached_key != key or view not in (cached_view, (None, None, None)):
            frame = self._frame(x_range, y_range, width, height)
            self._frame_cache = (key, view, frame)
        return frame

    def _frame(self, x_range, y_range, width, height) -> Frame:
        source = self.source
        tf = source.tf_ms
        levels, bars = source.frames()
        if x_range is None or None in x_range:
            x_range = self._opening_range()
        x0, x1 = float(x_range[0]), float(x_range[1])
        self._x_seen = (x0, x1)
        if x0 < source.start_ms and source.load_before(x0):
            levels, bars = source.frames()
        # Half a view either side is drawn too, so a pan shows bars before the server redraws
        # for the new range; more would be sent, and laid out by the browser, on every update.
        margin = (x1 - x0) / 2
        near_levels, near_bars = in_view(levels, bars, tf, x0 - margin, x1 + margin)
        seen_levels, seen = in_view(levels, bars, tf, x0, x1)
        level = source.level_size
        # The page keeps its y range on the visible bars (_FOLLOW_JS) without a range event,
        # so the server's y range can be stale: the same rule here, or an image would be
        # rasterized for the prices of the previous view.
        y_range = price_span(seen, level) or (
            (0.0, 1.0) if y_range is None or None in y_range else y_range
        )
        return Frame(
            levels=near_levels, bars=near_bars, tf_ms=tf, level_size=level,
            x_range=(x0, x1), y_range=(float(y_range[0]), float(y_range[1])), mode=self.mode,
            shading=self.shading, width_px=int(width or _PLOT_WIDTH),
            height_px=int(height or _PLOT_HEIGHT), studies=source.studies(near_levels, seen_levels),
            visible_bars=len(seen), visible_cells=len(seen_levels), mark=self._signal_mark(),
        )  # fmt: skip

    def _chart(self) -> hv.Layout:
        source = self.source
        first = self.frame()
        ranges = hv.streams.RangeXY()
        size = hv.streams.PlotSize()
        version = hv.streams.Params(
            self, ["redraws", "patches"], rename={"redraws": "version", "patches": "patched"}
        )
        look = hv.streams.Params(self, ["mode", "shading"])

        def main(x_range, y_range, width, height, scale, version, patched, mode, shading):
            frame = self.frame(x_range, y_range, width, height)
            self._drawn_cells = frame.draws_cells
            orders = source.big_orders(frame.x_range[0] - frame.tf_ms, frame.x_range[1])
            return main_overlay(frame, orders)

        def stats(x_range, version, patched):
            return stats_layer(self.frame(x_range)).element()

        def cvd(x_range, version, patched):
            return cvd_layer(self.frame(x_range).bars, source.tf_ms).element()

        self._plots = {}
        self._streams = (ranges, size)
        # cache_size=1 on each map: every pan, zoom and redraw has a new key (and data-only
        # patches make older elements stale), so a cache would only hold past charts' data.

        def keep(name: str):
            return lambda plot, element: self._plots.__setitem__(name, plot)

        tf = source.tf_ms
        main_map = hv.DynamicMap(main, streams=[ranges, size, version, look], cache_size=1).opts(
            *chart_options(),
            hv.opts.Overlay(
                **plot_opts(
                    min_height=380, height=_PLOT_HEIGHT, xaxis=None, ylabel="",
                    default_tools=["xpan", "xwheel_zoom", "box_zoom", "reset", "hover"],
                    active_tools=["xpan", "xwheel_zoom"],
                ),
                xlim=first.x_range, ylim=first.y_range, framewise=False,
                yformatter=NumeralTickFormatter(format="0,0.[00000000]"),
                hooks=[keep("main"), lambda plot, element: self._follow_hook(plot, tf)],
            )
        )  # fmt: skip
        x_stream = self._x_stream = hv.streams.RangeX(source=main_map)
        tap = hv.streams.SingleTap(source=main_map, transient=True)
        tap.add_subscriber(self._tapped)
        stats_map = hv.DynamicMap(stats, streams=[x_stream, version], cache_size=1).opts(
            **plot_opts(height=64, xaxis=None, ylabel="", yticks=[(0, "trades"), (1, "delta"),
                        (2, "volume")], ylim=(-0.6, 2.6), toolbar=None, default_tools=[],
                        active_tools=[], xlim=first.x_range, hooks=[keep("stats")]),
            **STATS_STYLE,
        )  # fmt: skip
        cvd_map = hv.DynamicMap(cvd, streams=[x_stream, version], cache_size=1).opts(
            **plot_opts(height=130, ylabel="CVD", xlabel="", xformatter=utc_time_formatter(),
                        framewise=True, toolbar=None, default_tools=[], active_tools=[],
                        xlim=first.x_range, hooks=[keep("cvd")]),
            **CVD_STYLE,
        )  # fmt: skip
        return (main_map + stats_map + cvd_map).cols(1).opts(shared_axes=True)

    def _tapped(self, x=None, y=None) -> None:
        if x is not None and y is not None:
            self.clicked = (int(x), float(y))

    def goto(self, time_ms: int) -> None:
        """Centre the bars on `time_ms` (a click on the heatmap), keeping the view's span;
        bars before the loaded range are loaded."""
        if not self._streams:
            return
        ranges, _ = self._streams
        x0, x1 = ranges.x_range if ranges.x_range and None not in ranges.x_range else (
            self._opening_range())  # fmt: skip
        half = (x1 - x0) / 2
        x_range = (time_ms - half, time_ms + half)
        for stream in (ranges, self._x_stream):
            if stream is not None:
                stream.update(x_range=x_range)  # no event: the redraw reads them
        self.redraws += 1
        main = self._plots.get("main")
        if main is not None:
            main.state.x_range.update(start=x_range[0], end=x_range[1])

    def _follow_hook(self, plot, tf: int) -> None:
        """Attach the y-follow / live-follow script once, to the wick source of this plot."""
        fig = plot.state
        if fig.tags and "follow" in fig.tags:
            return
        wicks = _wick_source(plot)
        if wicks is None:
            return
        fig.tags = [*fig.tags, "follow"]
        self._follow_code = CustomJS(
            args={
                "wicks": wicks,
                "xr": fig.x_range,
                "yr": fig.y_range,
                "tf": tf,
                "level": self.source.level_size,
                "follow_from": FOLLOW_FROM,
                "follow_to": FOLLOW_TO,
                "follow_room": FOLLOW_ROOM,
            },
            code=_FOLLOW_JS,
        )
        fig.x_range.js_on_change("end", self._follow_code)
        wicks.js_on_change("data", self._follow_code)

    def _follow_level(self) -> None:
        """The page's y rule pads by one level: after a re-bin, the new one (sent before the
        re-binned data, which runs the rule)."""
        code = self._follow_code
        if code is not None and code.args["level"] != self.source.level_size:
            code.args = {**code.args, "level": self.source.level_size}


def _wick_source(plot):
    """The data source of the candle wicks: the first Segments plot of the overlay."""
    for sub in getattr(plot, "subplots", {}).values():
        if isinstance(sub.hmap.last, hv.Segments):
            return sub.handles.get("source")
    return None
