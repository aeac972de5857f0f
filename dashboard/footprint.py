"""Footprint tab: one contract's candles filled with taker volume per price level.

Every footprint comes from the original trades (`engine.footprint`: the raw buffer, and for
older bars the store's tick-level minutes, which hold the same per-tick sums): changing the bin, the timeframe or the imbalance ratio rebuilds the loaded window from the
trades, never from the previous aggregation. Between changes only the live bar is rebuilt (from
its own trades); closed bars are built once, when they close, and rebuilt only when the engine
reports backfilled trades. Bokeh sources of closed bars and of the live bar are separate, so a
refresh sends the live bar alone.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.core.properties import value
from bokeh.layouts import column
from bokeh.models import (
    ColumnDataSource,
    FixedTicker,
    HoverTool,
    NumeralTickFormatter,
    Range1d,
    Span,
)
from bokeh.plotting import figure

from dashboard import footprint_glyphs as fg
from dashboard.live import LiveView
from dashboard.theme import (
    BACKGROUND,
    BORDER,
    GRID,
    MONO,
    MUTED,
    NEUTRAL,
    TEXT,
    utc_time_formatter,
)
from pipelines.analytics.footprint import (
    TIMEFRAMES_MS,
    Footprint,
    FootprintRules,
    footprint_from_records,
)

BIN_MULTIPLES = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2500, 5000, 10000)
RATIOS = {"150 %": 1.5, "200 %": 2.0, "250 %": 2.5, "300 %": 3.0, "400 %": 4.0, "500 %": 5.0}
LABEL_MAX_BARS = 18  # numbers are drawn when at most this many bars ...
LABEL_MAX_ROWS = 42  # ... and this many price levels are visible
VISIBLE_BARS = 24  # bars in view when a symbol opens


def auto_bin(bars_range_ticks: np.ndarray, target_levels: int = 14) -> int:
    """The bin multiple that gives a typical bar about `target_levels` levels."""
    if len(bars_range_ticks) == 0:
        return 1
    typical = float(np.median(bars_range_ticks)) + 1.0
    wanted = max(1.0, typical / target_levels)
    return min(BIN_MULTIPLES, key=lambda m: abs(np.log(m / wanted)))


class _Layer:
    """The Bokeh sources of one part of the chart (closed bars, or the live bar)."""

    NAMES = ("cells", "left_text", "right_text", "candles", "profile", "stacked", "stats", "cvd")

    def __init__(self) -> None:
        for name in self.NAMES:
            setattr(self, name, ColumnDataSource(data=_EMPTY[name]))

    def clear(self) -> None:
        for name in self.NAMES:
            getattr(self, name).data = _EMPTY[name]


_EMPTY: dict[str, dict] = {
    "cells": {
        k: []
        for k in (
            "left",
            "right",
            "bottom",
            "top",
            "color",
            "alpha",
            "bar_time",
            "price",
            "bid",
            "ask",
            "delta",
        )
    },
    "left_text": {"x": [], "y": [], "text": []},
    "right_text": {"x": [], "y": [], "text": []},
    "candles": {
        k: []
        for k in (
            "x",
            "low",
            "high",
            "left",
            "right",
            "bottom",
            "top",
            "color",
            "bar_time",
            "open",
            "close",
        )
    },
    "profile": {
        k: []
        for k in ("poc_left", "poc_right", "poc_bottom", "poc_top", "va_x", "va_low", "va_high")
    },
    "stacked": {k: [] for k in ("x", "bottom", "top", "color", "line")},
    "stats": {"x": [], "y": [], "text": [], "color": []},
    "cvd": {"x": [], "y": []},
}


def _concat(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    if len(a) == 0:
        return b
    if len(b) == 0:
        return a
    return pd.concat([a, b], ignore_index=True)


class FootprintView(LiveView):
    """Footprint candles of one contract, live; embeddable: `FootprintView(symbol="BTCUSDT")`."""

    symbol = param.String(default="BTCUSDT", doc="Contract shown.")
    timeframe = param.Selector(default="1m", objects=list(TIMEFRAMES_MS), doc="Bar length.")
    price_bin = param.Integer(
        default=0, bounds=(0, None), doc="Level size in ticks; 0 = automatic."
    )
    imbalance_ratio = param.Number(default=3.0, bounds=(1.0, 20.0), doc="Diagonal imbalance ratio.")
    mode = param.Selector(default="bid × ask", objects=list(fg.MODES), doc="What each level shows.")
    history_bars = param.Integer(
        default=120, bounds=(10, 2000), doc="Bars loaded behind the live bar."
    )

    _schedules = (("refresh", 700),)

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self._rules: FootprintRules | None = None
        self._done = _Layer()
        self._live = _Layer()
        self._done_levels = pd.DataFrame()
        self._done_bars = pd.DataFrame()
        self._live_fp: Footprint | None = None
        self._window_start = 0
        self._live_start = 0
        self._scale = 1.0
        self._dirty = True
        self._backfills_seen = -1
        self._label_key: tuple = ()
        self._symbols_seen = 0
        self._x_range_kept = False
        self._held_from = 0  # oldest trade time the loaded window saw (older arrivals reload)
        self._bin_auto = self.price_bin == 0
        self._busy = False

    # ------------------------------------------------------------------ layout

    def _layout(self) -> pn.viewable.Viewable:
        self._symbol_input = pn.widgets.AutocompleteInput(
            value=self.symbol, options=[self.symbol], case_sensitive=False, search_strategy="includes",
            restrict=True, min_characters=1, placeholder="symbol", width=150, margin=(2, 6),
        )  # fmt: skip
        self._tf_input = pn.widgets.RadioButtonGroup(
            options=list(TIMEFRAMES_MS), value=self.timeframe, margin=(2, 6)
        )
        self._bin_input = pn.widgets.Select(options={"auto": 0}, value=0, width=130, margin=(2, 6))
        self._ratio_input = pn.widgets.Select(
            options=RATIOS, value=self.imbalance_ratio if self.imbalance_ratio in RATIOS.values() else 3.0,
            width=90, margin=(2, 6),
        )  # fmt: skip
        self._mode_input = pn.widgets.RadioButtonGroup(
            options=list(fg.MODES), value=self.mode, margin=(2, 6)
        )
        self._symbol_input.link(self, value="symbol", bidirectional=True)
        self._tf_input.link(self, value="timeframe", bidirectional=True)
        self._ratio_input.link(self, value="imbalance_ratio", bidirectional=True)
        self._mode_input.link(self, value="mode", bidirectional=True)
        self._bin_input.param.watch(self._bin_chosen, "value")
        self._info = pn.pane.HTML(
            "", margin=(6, 8), styles={"color": MUTED, "font-family": MONO, "font-size": "12px"}
        )
        self._progress = pn.indicators.Progress(
            value=0,
            max=100,
            width=90,
            height=10,
            visible=False,
            bar_color="warning",
            margin=(10, 6),
        )
        self._progress_text = pn.pane.HTML(
            "", visible=False, margin=(6, 4), styles={"color": NEUTRAL, "font-size": "12px"}
        )
        controls = pn.Row(
            self._symbol_input, self._tf_input, self._bin_input, self._ratio_input,
            self._mode_input, self._progress, self._progress_text, pn.layout.HSpacer(), self._info,
            sizing_mode="stretch_width", styles={"border-bottom": f"1px solid {BORDER}"},
        )  # fmt: skip
        self._figures = self._build_figures()
        chart = pn.pane.Bokeh(self._figures, sizing_mode="stretch_both", min_height=560)
        return pn.Column(controls, chart, sizing_mode="stretch_both", margin=0)

    def _build_figures(self):
        self._x_range = Range1d(0, 1)
        self._y_range = Range1d(0, 1)
        main = _figure(self._x_range, self._y_range, min_height=380, height=520)
        main.yaxis.formatter = NumeralTickFormatter(format="0,0.[00000000]")
        main.xaxis.visible = False
        stats = _figure(self._x_range, Range1d(-0.6, 2.6), height=64)
        stats.yaxis.ticker = FixedTicker(ticks=[0, 1, 2])
        stats.yaxis.major_label_overrides = {0: "trades", 1: "delta", 2: "volume"}
        stats.ygrid.visible = False
        stats.xaxis.visible = False
        stats.toolbar_location = None
        cvd = _figure(self._x_range, Range1d(-1, 1), height=130)
        cvd.xaxis.formatter = utc_time_formatter()
        cvd.yaxis.formatter = NumeralTickFormatter(format="0,0.[00]a")
        cvd.toolbar_location = None
        cvd.add_layout(Span(location=0, dimension="width", line_color=MUTED, line_dash="dotted"))
        self._cvd_range = cvd.y_range
        hover_cells = []
        for layer in (self._done, self._live):
            main.vbar(
                x="x",
                bottom="low",
                top="high",
                width=1,
                source=layer.candles,
                color="#b0b0b0",
                line_width=1,
            )
            hover_cells.append(
                main.quad(left="left", right="right", bottom="bottom", top="top", source=layer.cells,
                          fill_color="color", fill_alpha="alpha", line_width=0)
            )  # fmt: skip
            main.quad(left="left", right="right", bottom="bottom", top="top", source=layer.candles,
                      fill_color="color", line_color="color")  # fmt: skip
            main.quad(left="poc_left", right="poc_right", bottom="poc_bottom", top="poc_top",
                      source=layer.profile, fill_alpha=0, line_color=NEUTRAL, line_width=1.2)  # fmt: skip
            main.segment(x0="va_x", x1="va_x", y0="va_low", y1="va_high", source=layer.profile,
                         line_color=NEUTRAL, line_alpha=0.55, line_width=2)  # fmt: skip
            main.segment(x0="x", x1="x", y0="bottom", y1="top", source=layer.stacked,
                         line_color="line", line_width=3)  # fmt: skip
            for src, align in ((layer.left_text, "right"), (layer.right_text, "left")):
                main.text(x="x", y="y", text="text", source=src, text_align=align,
                          text_baseline="middle", text_font_size="9pt", text_color=TEXT,
                          text_font=value(MONO))  # fmt: skip
            stats.text(x="x", y="y", text="text", source=layer.stats, text_align="center",
                       text_baseline="middle", text_font_size="8pt", text_color="color",
                       text_font=value(MONO))  # fmt: skip
            cvd.line(x="x", y="y", source=layer.cvd, line_color=NEUTRAL, line_width=1.6)
        main.add_tools(
            HoverTool(
                renderers=hover_cells,
                tooltips=[
                    ("price", "@price{0,0.[00000000]}"),
                    ("sells", "@bid{0,0.[000]}"),
                    ("buys", "@ask{0,0.[000]}"),
                    ("delta", "@delta{+0,0.[000]}"),
                ],
            )
        )
        return column(main, stats, cvd, sizing_mode="stretch_both")

    # ------------------------------------------------------------------ parameters

    def _bin_chosen(self, event: param.parameterized.Event) -> None:
        if event.new and event.new != self.price_bin and not self._busy:
            self.price_bin = int(event.new)

    @param.depends("symbol", watch=True)
    def _symbol_changed(self) -> None:
        self._x_range_kept = False
        self._bin_auto = True  # a new contract gets a bin that suits its prices
        self._dirty = True
        if not self._busy:
            self._run("refresh")

    @param.depends("timeframe", "price_bin", "imbalance_ratio", watch=True)
    def _rules_changed(self) -> None:
        self._dirty = True
        if not self._busy:  # a change made by the refresh itself is picked up by it
            self._bin_auto = self.price_bin == 0
            self._run("refresh")

    @param.depends("mode", watch=True)
    def _mode_changed(self) -> None:
        self._scale = fg.volume_scale(self.levels(), self.mode)
        self._render_done()
        self._render_live()

    # ------------------------------------------------------------------ data

    def levels(self) -> pd.DataFrame:
        """Levels of the loaded window (closed bars and the live bar)."""
        live = self._live_fp.levels if self._live_fp is not None else pd.DataFrame()
        return _concat(self._done_levels, live)

    def bars(self) -> pd.DataFrame:
        """Bars of the loaded window; `cvd` restarts at zero at the window's first bar."""
        live = self._live_fp.bars if self._live_fp is not None else pd.DataFrame()
        out = _concat(self._done_bars, live)
        if len(out):
            out = out.assign(cvd=np.cumsum(out["delta"].to_numpy()))
        return out

    def _sym(self) -> int | None:
        return self.engine.registry.index(self.symbol)

    def _backfills(self) -> int:
        stats = self.engine.sequencer.stats
        return stats.gaps_filled + stats.gaps_abandoned

    def _load(self) -> None:
        """Rebuild the window from the raw trades with the current rules."""
        spec = self.engine.registry.spec(self.symbol)
        tf = TIMEFRAMES_MS[self.timeframe]
        newest = self._newest_time()
        now_bar = newest // tf * tf
        start = now_bar - self.history_bars * tf
        if self._x_range_kept:
            start = min(start, int(self._x_range.start) // tf * tf)
        if self.price_bin == 0 or self._bin_auto:
            probe = self.engine.trades(self.symbol, max(start, now_bar - 30 * tf), None)
            self._bin_auto = True
            self.price_bin = self._auto_bin(probe, tf)
        self._rules = FootprintRules.make(
            spec, price_bin_ticks=self.price_bin, timeframe=self.timeframe,
            imbalance_ratio=self.imbalance_ratio,
        )  # fmt: skip
        # From the raw trades, reaching into the store's tick-level minutes for older bars.
        done = self.engine.footprint(self.symbol, start, now_bar, self._rules)
        self._done_levels, self._done_bars = done.levels, done.bars
        self._window_start = start
        self._live_start = now_bar
        self._live_fp = None
        self._backfills_seen = self._backfills()
        coverage = self.engine.buffer.coverage(self._sym())
        self._held_from = coverage[0] if coverage else now_bar
        self._update_live()
        self._scale = fg.volume_scale(self.levels(), self.mode)
        self._update_bin_options(spec)
        self._render_done()
        self._dirty = False

    def _auto_bin(self, trades: np.ndarray, tf: int) -> int:
        if len(trades) == 0:
            return 1
        bars = trades["time"] // tf
        edges = np.flatnonzero(np.diff(bars)) + 1
        ranges = [int(p.max() - p.min()) for p in np.split(trades["price"], edges)]
        return auto_bin(np.asarray(ranges))

    def _newest_time(self) -> int:
        sym = self._sym()
        coverage = self.engine.buffer.coverage(sym) if sym is not None else None
        return max(coverage[1] if coverage else 0, int(time.time() * 1000))

    def _update_live(self) -> bool:
        """Close finished bars and rebuild the live bar from its trades; True if bars closed."""
        spec = self.engine.registry.spec(self.symbol)
        tf = self._rules.tf_ms
        now_bar = self._newest_time() // tf * tf
        closed = False
        if now_bar > self._live_start:
            trades = self.engine.trades(self.symbol, self._live_start, now_bar)
            done = footprint_from_records(trades, spec, self._rules)
            self._done_levels = _concat(self._done_levels, done.levels)
            self._done_bars = _concat(self._done_bars, done.bars)
            self._live_start = now_bar
            closed = True
        live = self.engine.trades(self.symbol, self._live_start, None)
        self._live_fp = footprint_from_records(live, spec, self._rules)
        return closed

    # ------------------------------------------------------------------ refresh

    def refresh(self) -> None:
        self._busy = True
        try:
            self._refresh()
        finally:
            self._busy = False

    def _refresh(self) -> None:
        registry = self.engine.registry
        if len(registry.active) != self._symbols_seen and hasattr(self, "_symbol_input"):
            self._symbols_seen = len(registry.active)
            self._symbol_input.options = sorted(registry.active)
        if self._sym() is None:
            self._info.object = f"{self.symbol}: waiting for the contract list"
            return
        if self._dirty or self._older_trades_arrived() or self._backfills() != self._backfills_seen:
            self._load()  # an automatic bin is chosen again: it may have seen too little data
            self._place_ranges(reset=not self._x_range_kept)
            self._x_range_kept = True
        else:
            follow = self._following()
            if self._update_live():
                self._scale = fg.volume_scale(self.levels(), self.mode)
                self._render_done()
                if follow:
                    self._place_ranges(reset=False, shift=True)
        self._render_live()
        self._render_labels()
        self._render_status()

    def _older_trades_arrived(self) -> bool:
        coverage = self.engine.buffer.coverage(self._sym())
        return (
            coverage is not None
            and coverage[0] < self._held_from
            and coverage[0] >= self._window_start
        )

    def _following(self) -> bool:
        tf = self._rules.tf_ms
        return self._x_range.end >= self._live_start + 0.5 * tf

    def _place_ranges(self, *, reset: bool, shift: bool = False) -> None:
        """Show the newest bars on open; keep the time range on a change; follow the live bar."""
        tf = self._rules.tf_ms
        end = self._live_start + 2 * tf
        if reset:
            self._x_range.start, self._x_range.end = end - (VISIBLE_BARS + 2) * tf, end
        elif shift:
            width = self._x_range.end - self._x_range.start
            self._x_range.start, self._x_range.end = end - width, end
        bars = self.bars()
        visible = bars[
            (bars["bar_time"] + tf >= self._x_range.start) & (bars["bar_time"] <= self._x_range.end)
        ]
        if len(visible):
            level = self._level_size()
            lo, hi = float(visible["low"].min()), float(visible["high"].max()) + level
            pad = max((hi - lo) * 0.04, level)
            self._y_range.start, self._y_range.end = lo - pad, hi + pad

    def _level_size(self) -> float:
        spec = self.engine.registry.spec(self.symbol)
        return float(spec.ticks_to_price(self._rules.price_bin_ticks))

    def _fill(self, layer: _Layer, levels: pd.DataFrame, bars: pd.DataFrame, cvd0: float) -> None:
        tf, level = self._rules.tf_ms, self._level_size()
        if len(bars) == 0:
            layer.clear()
            return
        layer.cells.data = fg.cell_columns(levels, tf, level, self._scale, self.mode)
        layer.candles.data = fg.candle_columns(bars, tf, level)
        layer.profile.data = fg.profile_columns(bars, tf, level)
        layer.stacked.data = fg.stacked_columns(levels, tf, level)
        layer.stats.data = fg.stats_columns(bars, tf)
        layer.cvd.data = fg.cvd_columns(bars, tf, cvd0)

    def _render_done(self) -> None:
        self._fill(self._done, self._done_levels, self._done_bars, 0.0)
        self._label_key = ()

    def _render_live(self) -> None:
        if self._live_fp is None:
            return
        cvd0 = float(self._done_bars["delta"].sum()) if len(self._done_bars) else 0.0
        self._fill(self._live, self._live_fp.levels, self._live_fp.bars, cvd0)
        cvd = self.bars()["cvd"].to_numpy()
        if len(cvd):
            span = max(float(np.abs(cvd).max()), 1e-9) * 1.15
            if (
                not (-span <= self._cvd_range.start <= self._cvd_range.end <= span)
                or self._cvd_range.end < span / 1.5
            ):
                self._cvd_range.start, self._cvd_range.end = -span, span

    def _render_labels(self) -> None:
        """Numbers in the cells, only when few enough cells are visible to read them."""
        tf, level = self._rules.tf_ms, self._level_size()
        x0, x1 = self._x_range.start, self._x_range.end
        rows = (self._y_range.end - self._y_range.start) / level
        show = (x1 - x0) / tf <= LABEL_MAX_BARS and rows <= LABEL_MAX_ROWS
        key = (show, x0 // tf, x1 // tf, self.mode, len(self._done_levels))
        if key != self._label_key:
            self._label_key = key
            levels = self._done_levels
            if show and len(levels):
                inside = (levels["bar_time"] + tf >= x0) & (levels["bar_time"] <= x1)
                levels = levels[inside.to_numpy()]
            else:
                levels = levels.iloc[:0] if len(levels) else levels
            self._set_labels(self._done, levels, show)
        live = self._live_fp.levels if self._live_fp is not None else pd.DataFrame()
        self._set_labels(self._live, live, show)

    def _set_labels(self, layer: _Layer, levels: pd.DataFrame, show: bool) -> None:
        if not show or len(levels) == 0:
            layer.left_text.data = _EMPTY["left_text"]
            layer.right_text.data = _EMPTY["right_text"]
            return
        left, right = fg.label_columns(levels, self._rules.tf_ms, self._level_size(), self.mode)
        layer.left_text.data = left
        layer.right_text.data = right

    def _update_bin_options(self, spec) -> None:
        options = {f"{spec.format_price(m)} ({m}×)": m for m in BIN_MULTIPLES}
        if self.price_bin not in options.values():
            options[f"{spec.format_price(self.price_bin)} ({self.price_bin}×)"] = self.price_bin
        if hasattr(self, "_bin_input"):
            self._bin_input.options = options
            self._bin_input.value = self.price_bin

    def _render_status(self) -> None:
        bars = self.bars()
        tf = self._rules.tf_ms
        level = self._level_size()
        self._info.object = (
            f"{len(bars):,} bars · {int(bars['trades'].sum()):,} trades · bin {level:,.8g}"
            if len(bars)
            else "no trades yet"
        )
        fraction, text = self._history_progress(tf)
        self._progress.visible = self._progress_text.visible = fraction < 1.0
        self._progress.value = int(fraction * 100)
        self._progress_text.object = text

    def _history_progress(self, tf: int) -> tuple[float, str]:
        """How much of the loaded window the engine and its store hold, and any backfill."""
        sym = self._sym()
        gap = self.engine.sequencer.gaps.get(sym)
        if gap is not None:
            last = int(self.engine.sequencer.last_id[sym])
            total = gap.to_id - gap.from_id + 1
            done = max(0, min(total, last - gap.from_id + 1))
            return done / total if total else 1.0, f"backfilling {total - done:,} trades"
        first = self.engine.history_start(self.symbol)
        end = self._live_start + tf
        if first is None:
            return 0.0, "waiting for trades"
        held = end - max(first, self._window_start)
        fraction = min(1.0, held / max(1, end - self._window_start))
        since = time.strftime("%H:%M", time.gmtime(first / 1000))
        return fraction, f"history {fraction:.0%} · since {since}"


def _figure(x_range: Range1d, y_range: Range1d, **kwargs: object):
    fig = figure(
        x_range=x_range, y_range=y_range, x_axis_type="datetime", sizing_mode="stretch_width",
        tools="xpan,ypan,xwheel_zoom,ywheel_zoom,wheel_zoom,box_zoom,reset",
        active_drag="xpan", active_scroll="xwheel_zoom", background_fill_color=BACKGROUND,
        border_fill_color=BACKGROUND, outline_line_color=BORDER, min_border_left=70,
        min_border_right=10, min_border_top=4, min_border_bottom=4, **kwargs,
    )  # fmt: skip
    fig.toolbar.logo = None
    fig.toolbar.autohide = True
    for axis in (fig.xaxis, fig.yaxis):
        axis.axis_line_color = BORDER
        axis.major_tick_line_color = BORDER
        axis.minor_tick_line_color = None
        axis.major_label_text_color = MUTED
        axis.major_label_text_font = MONO
        axis.major_label_text_font_size = "8pt"
    fig.xgrid.grid_line_color = GRID
    fig.ygrid.grid_line_color = GRID
    fig.xgrid.grid_line_alpha = fig.ygrid.grid_line_alpha = 0.5
    fig.yaxis.major_label_standoff = 4
    return fig
