"""Imbalance tab: who is lifting and who is hitting, across every contract.

* a contracts × minutes heatmap of trade-flow imbalance, drawn as one image that datashader
  re-grids to the screen (`rasterize`), so hundreds of contracts over hours stay one glyph;
* rankings of the strongest buying and selling flow over the chosen window, with the book
  imbalance of the partial depth beside them;
* a click on a ranked contract shows its cumulative volume delta and selects it for the
  footprint tab (`selected`; `open_footprint` fires when the user asks to go there).
"""

from __future__ import annotations

import html
import time

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import AdaptiveTicker, HoverTool
from holoviews.operation.datashader import rasterize

from dashboard import widgets
from dashboard.clicks import on_shown_click
from dashboard.empty import EmptyState
from dashboard.live import LiveMinuteLimit, LiveView
from dashboard.tables import update_table
from dashboard.theme import (
    BORDER,
    BUY,
    IMBALANCE_CMAP,
    MONO,
    MUTED,
    NEUTRAL,
    SELL,
    TABLE_CSS,
    plot_opts,
    show_row_names,
    symbol_hover,
    symbol_tick_formatter,
    tint_formatter,
    utc_time_axis,
    utc_time_formatter,
    utc_time_hook,
)
from pipelines.analytics.breadth import BREADTH_COLUMNS
from pipelines.analytics.imbalance import WINDOWS
from pipelines.analytics.roworder import ORDERS, RowOrder
from pipelines.engine.availability import store_reason

SPANS = {"1h": 60, "2h": 120, "4h": 240, "8h": 480, "24h": 1440}
MIN_VOLUMES = {"any": 0, "10K": 10_000, "100K": 100_000, "1M": 1_000_000}
RANK_ROWS = 20
MIN_MINUTES_SHOWN = 15
# In the browser, when a contract is picked in the search box: put its row (its index among the
# completions, which are the rows in order) in the middle of SEARCH_ROWS rows, and tell the
# server, as a pan would (RangesUpdate), so the heatmap re-rasterizes there.
_SCROLL_JS = """
const row = cb_obj.completions.indexOf(cb_obj.value);
if (row < 0) return;
const n = cb_obj.completions.length, yr = fig.y_range;
const low = Math.min(Math.max(-0.5, row - rows / 2), Math.max(-0.5, n - 0.5 - rows));
const high = low + rows;
if (yr.start > yr.end) yr.setv({start: high, end: low}); else yr.setv({start: low, end: high});
const find = (v) => {
  if (v.model === fig) return v;
  for (const c of (v.child_views || [])) { const f = find(c); if (f) return f; }
  return null;
};
for (const root of Object.values(Bokeh.index)) {
  const view = find(root);
  if (view) { view.trigger_ranges_update_event(); break; }
}
"""
LABELLED_ROWS = 64  # at most this many rows in view: every row has its label
SEARCH_ROWS = 40  # rows in view around a contract found by the search box
RANK_COLUMNS = (
    "symbol", "imbalance", "delta_quote", "volume_quote", "trades", "book_imbalance", "oi_change",
)  # fmt: skip
RANK_TITLES = {
    "symbol": "symbol", "imbalance": "flow imb.", "delta_quote": "delta $",
    "volume_quote": "volume $", "trades": "trades", "book_imbalance": "book imb.",
    "oi_change": "OI Δ 1h %",
}  # fmt: skip


def heatmap_image(frame: pd.DataFrame, rows: list[str] | None = None) -> tuple[hv.Image, list[str]]:
    """The tracker's contracts × minutes frame as an image: x = minute open (ms), y = row.

    `rows` (default: the frame's) fixes which contract is on which row; contracts without
    trades in the span get an empty row, so rows do not move when one pauses.
    """
    if rows is not None and frame.shape[1]:
        frame = frame.reindex(pd.Index(rows, dtype=object))
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        # datashader needs two samples per axis to know the spacing: an empty 2 × 2 image.
        return hv.Image(
            np.full((2, 2), np.nan), bounds=(0, -0.5, 60_000, 0.5), kdims=["time", "row"],
            vdims=["imbalance"],
        ), [str(s) for s in frame.index]  # fmt: skip
    # Start at the first minute with any trade (the engine may have started recently).
    traded = np.flatnonzero(np.isfinite(frame.to_numpy(dtype=np.float64)).any(axis=0))
    first = min(int(traded[0]) if len(traded) else 0, max(0, frame.shape[1] - MIN_MINUTES_SHOWN))
    frame = frame.iloc[:, first:]
    minutes = frame.columns.to_numpy(dtype=np.int64)
    step = 60_000
    bounds = (float(minutes[0]), -0.5, float(minutes[-1] + step), frame.shape[0] - 0.5)
    # Image rows run top to bottom; flip so row 0 (the first contract) is at y = 0.
    values = frame.to_numpy(dtype=np.float64)[::-1]
    # One contract or one minute: repeat it, so each axis has two samples (same picture).
    values = np.repeat(values, 2 if values.shape[0] == 1 else 1, axis=0)
    values = np.repeat(values, 2 if values.shape[1] == 1 else 1, axis=1)
    image = hv.Image(values, bounds=bounds, kdims=["time", "row"], vdims=["imbalance"])
    return image, [str(s) for s in frame.index]


def breadth_strip(breadth: pd.DataFrame) -> hv.Overlay:
    """Contracts buyer-dominated (up, green) and seller-dominated (down, red) per minute; a
    minute that widened (many contracts liquidating or sweeping at once) gets an amber spike."""
    t = breadth["minute"].to_numpy(dtype=np.float64) + 30_000  # the minute's middle
    buyers = breadth["buyers"].to_numpy(dtype=np.float64)
    sellers = breadth["sellers"].to_numpy(dtype=np.float64)
    top = float(max(buyers.max(initial=1.0), sellers.max(initial=1.0)))
    wide = breadth["widening"].to_numpy(dtype=bool)
    return (
        hv.Spikes((t, buyers), "time", "contracts").opts(color=BUY, line_width=3)
        * hv.Spikes((t, -sellers), "time", "contracts").opts(color=SELL, line_width=3)
        * hv.Spikes((t[wide], np.full(wide.sum(), top)), "time", "contracts").opts(
            color=NEUTRAL, line_width=2, line_dash="dotted"
        )
    )


def ranking_tables(
    ranking: pd.DataFrame,
    window: str,
    min_volume: float,
    rows: int = RANK_ROWS,
    oi_change: dict[str, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(strongest buyers, strongest sellers) among contracts with at least `min_volume` USD;
    `oi_change`: symbol -> open interest change over the last hour, %."""
    if len(ranking) == 0:
        empty = pd.DataFrame(
            {c: pd.Series(dtype=object if c == "symbol" else "float64") for c in RANK_COLUMNS}
        )
        return empty, empty.copy()
    frame = pd.DataFrame(
        {
            "symbol": ranking["symbol"].astype(object),
            "imbalance": ranking["imbalance"].astype("float64"),
            "delta_quote": ranking["delta_quote"].astype("float64"),
            "volume_quote": (ranking["buy_quote"] + ranking["sell_quote"]).astype("float64"),
            "trades": (ranking["buy_trades"] + ranking["sell_trades"]).astype("float64"),
            "book_imbalance": ranking["book_imbalance"].astype("float64"),
            "oi_change": ranking["symbol"].map(oi_change or {}).astype("float64"),
        }
    )
    frame = frame[(frame["volume_quote"] >= min_volume) & frame["imbalance"].notna()]
    buyers = frame[frame["imbalance"] > 0].sort_values(
        ["imbalance", "volume_quote"], ascending=[False, False]
    )
    sellers = frame[frame["imbalance"] < 0].sort_values(
        ["imbalance", "volume_quote"], ascending=[True, False]
    )
    return buyers.head(rows).reset_index(drop=True), sellers.head(rows).reset_index(drop=True)


class ImbalanceView(LiveView):
    """Trade-flow and book imbalance of all contracts; click a contract for its CVD."""

    window = param.Selector(default="5m", objects=list(WINDOWS), doc="Ranking window.")
    span = param.Selector(default="1h", objects=list(SPANS), doc="Heatmap history.")
    min_volume = param.Number(
        default=10_000, bounds=(0, None), doc="Rank only contracts with this much USD volume."
    )
    order = param.Selector(default=ORDERS[0], objects=list(ORDERS), doc="Heatmap row order.")
    selected = param.String(default="", doc="Contract clicked in a ranking or the heatmap.")
    open_footprint = param.Event(
        doc="Fires when the user asks to open `selected` in the footprint."
    )

    _schedules = (("refresh_rankings", 2000), ("refresh_charts", 2000))

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self._names: list[str] = []
        self.rows = RowOrder(self.order)
        # The rows the trader zoomed or panned to, and how many rows there were: a redraw for
        # new data re-frames the plot (framewise, for the time axis) and puts them back.
        self._y_view: tuple[tuple[float, float] | None, int] = (None, 0)
        self._reframing = False  # the next draw is for new data, not for a zoom or pan
        self._x_extent: tuple[float, float] | None = None  # time span of the image sent last
        self._heat_ranges: list[hv.streams.RangeXY] = []  # the heatmap's view, as rasterize sees it
        self._fig = None  # the heatmap's Bokeh figure, once drawn (the search moves its range)
        self._sent: pd.DataFrame | None = None  # the heatmap frame last drawn
        # The first draw of a new shape can keep the previous image's time axis (rasterize's
        # range is the one the browser last reported): the next refresh draws once more.
        self._heat_limit = LiveMinuteLimit(again_after_new_shape=True)
        self.empty = EmptyState("imbalance")
        self.heat_pipe = hv.streams.Pipe(data=heatmap_image(pd.DataFrame())[0])
        self.breadth_pipe = hv.streams.Pipe(
            data=breadth_strip(pd.DataFrame(columns=BREADTH_COLUMNS))
        )
        self._breadth_key: tuple = ()  # (rows, minute, counts...) of the strip last drawn
        self._breadth_limit = LiveMinuteLimit(shape=())  # shape: (rows, minute)
        self.cvd_pipe = hv.streams.Pipe(data=pd.DataFrame({"time": pd.to_datetime([]), "cvd": []}))
        self.buyers = self._table()
        self.sellers = self._table()
        self._clicks = on_shown_click([self.buyers, self.sellers], "symbol", self._clicked)

    @property
    def tracker(self):
        return self.engine.analytics.imbalance

    def _table(self) -> pn.widgets.Tabulator:
        signed = {"side_field": "imbalance_side", "scale_field": "imbalance", "full_scale": 1.0}
        formatters = {
            "symbol": tint_formatter("text", **signed),
            "imbalance": tint_formatter("num", decimals=2, **signed),
            "delta_quote": tint_formatter("num", decimals=0, **signed),
            "volume_quote": tint_formatter("num", decimals=0, **signed),
            "trades": tint_formatter("num", decimals=0, **signed),
            "book_imbalance": tint_formatter("num", decimals=2, **signed),
            "oi_change": tint_formatter("num", decimals=2, suffix=" %", **signed),
        }
        empty, _ = ranking_tables(pd.DataFrame(), self.window, 0)
        return pn.widgets.Tabulator(
            empty.assign(imbalance_side=pd.Series(dtype=object)), show_index=False, disabled=True,
            selectable=False, hidden_columns=["imbalance_side"], titles=RANK_TITLES,
            formatters=formatters, layout="fit_data_stretch", stylesheets=[TABLE_CSS],
            sizing_mode="stretch_width", height=24 + 21 * RANK_ROWS,
            header_align={c: "right" for c in RANK_COLUMNS[1:]},
        )  # fmt: skip

    # ------------------------------------------------------------------ layout

    def _layout(self) -> pn.viewable.Viewable:
        window = widgets.RadioButtonGroup(options=list(WINDOWS), value=self.window, margin=(2, 6))
        window.link(self, value="window", bidirectional=True)
        span = widgets.Select(options=list(SPANS), value=self.span, width=70, margin=(2, 6))
        span.link(self, value="span", bidirectional=True)
        floor = widgets.Select(options=MIN_VOLUMES, value=self.min_volume, width=80, margin=(2, 6))
        floor.link(self, value="min_volume", bidirectional=True)
        order = widgets.Select(options=list(ORDERS), value=self.order, width=120, margin=(2, 6))
        order.link(self, value="order", bidirectional=True)
        resort = pn.widgets.Button(label="re-sort", width=70, margin=(2, 6))
        resort.on_click(lambda _: self._resort())
        self._search = pn.widgets.AutocompleteInput(
            placeholder="find contract", options=[], case_sensitive=False, search_strategy="includes",
            min_characters=1, width=150, margin=(2, 6),
        )  # fmt: skip
        self._warm_note = pn.pane.HTML(
            self.kline_note(), margin=(6, 8), styles={"color": MUTED, "font-size": "11px"}
        )
        go = pn.widgets.Button(label="footprint ›", width=100, margin=(2, 6))
        go.on_click(lambda _: self.param.trigger("open_footprint") if self.selected else None)
        self._cvd_title = pn.pane.HTML(
            "click a contract in a ranking",
            margin=(6, 8),
            styles={"color": MUTED, "font-size": "12px", "font-family": MONO},
        )
        label = {"color": MUTED, "font-size": "12px"}
        heat = rasterize(
            hv.DynamicMap(lambda data: data, streams=[self.heat_pipe], cache_size=1), aggregator="mean", dynamic=True
        ).opts(
            cmap=IMBALANCE_CMAP, clim=(-1, 1), colorbar=True, framewise=True, clipping_colors={"NaN": "transparent"},
            tools=["hover", "tap"], xlabel="", ylabel="", invert_yaxis=True, hooks=[self._axes_hook],
            **plot_opts(min_height=300, colorbar_opts={"background_fill_color": "#1e1e1e", "major_label_text_color": MUTED},
                        default_tools=["ypan", "ywheel_zoom", "reset"], active_tools=["ypan", "ywheel_zoom"]),
        )  # fmt: skip
        self._heat_ranges = [s for s in heat.streams if isinstance(s, hv.streams.RangeXY)]
        # A click on a row opens that contract's footprint.
        tap = hv.streams.Tap(source=heat, x=None, y=None)
        tap.add_subscriber(lambda x, y: self._tapped(y))
        cvd = hv.DynamicMap(
            lambda data: hv.Curve(data, "time", "cvd").opts(color=NEUTRAL, line_width=1.6), streams=[self.cvd_pipe], cache_size=1
        ).opts(framewise=True, **plot_opts(height=190, xlabel="", ylabel="CVD", yformatter="%.4g", xformatter=utc_time_formatter()))  # fmt: skip
        # Visibility is toggled on a wrapping Column: toggling it on the HoloViews pane itself
        # makes Panel 1.9 push an invalid property to the Bokeh figure.
        self._cvd_pane = pn.Column(
            pn.pane.HoloViews(cvd, sizing_mode="stretch_width", height=190),
            visible=bool(self.selected),
            sizing_mode="stretch_width",
            margin=0,
        )
        controls = pn.Row(
            pn.pane.HTML("window", margin=(6, 0, 6, 8), styles=label), window,
            pn.pane.HTML("history", margin=(6, 0, 6, 8), styles=label), span,
            pn.pane.HTML("min volume $", margin=(6, 0, 6, 8), styles=label), floor,
            pn.pane.HTML("rows by", margin=(6, 0, 6, 8), styles=label), order, resort, self._search,
            self._warm_note, sizing_mode="stretch_width",
            styles={"border-bottom": f"1px solid {BORDER}"},
        )  # fmt: skip
        strip = hv.DynamicMap(lambda data: data, streams=[self.breadth_pipe], cache_size=1).opts(
            hv.opts.Spikes(framewise=True, xlabel="", ylabel="buy / sell", yformatter="%d", hooks=[utc_time_hook], **plot_opts(height=90, toolbar=None, default_tools=[], active_tools=[]))
        )  # fmt: skip
        left = pn.Column(
            pn.pane.HoloViews(strip, sizing_mode="stretch_width", height=90, linked_axes=False),
            self.empty,
            pn.pane.HoloViews(heat, sizing_mode="stretch_both", min_height=320),
            pn.Row(self._cvd_title, pn.layout.HSpacer(), go, sizing_mode="stretch_width"),
            self._cvd_pane,
            sizing_mode="stretch_both",
        )
        heading = {"color": MUTED, "font-size": "11px", "letter-spacing": ".05em"}
        right = pn.Column(
            pn.pane.HTML("BUYERS", margin=(4, 8, 0, 8), styles=heading), self.buyers,
            pn.pane.HTML("SELLERS", margin=(8, 8, 0, 8), styles=heading), self.sellers,
            self._clicks,
            width=640, scroll=True,
        )  # fmt: skip
        return pn.Column(
            controls,
            pn.Row(left, right, sizing_mode="stretch_both"),
            sizing_mode="stretch_both",
            margin=0,
        )

    def _axes_hook(self, plot, element) -> None:
        fig = plot.state
        if fig is not self._fig:  # a new figure: its axis models once (they outlive redraws)
            self._fig = fig
            if hasattr(self, "_search"):
                self._search.jscallback(value=_SCROLL_JS, args={"fig": fig, "rows": SEARCH_ROWS})
            fig.yaxis.formatter = symbol_tick_formatter(self._names)
            # One tick per row once few enough rows are in view; every 2nd, 5th, 10th... before.
            fig.yaxis.ticker = AdaptiveTicker(
                desired_num_ticks=LABELLED_ROWS, min_interval=1, mantissas=[1, 2, 5],
                num_minor_ticks=0,
            )  # fmt: skip
            utc_time_axis(fig)
            self._row_hover = symbol_hover(self._names)
        y_view, rows = self._y_view
        if not self._reframing:  # drawn for a zoom, pan, reset or search: remember the rows
            self._y_view = ((fig.y_range.start, fig.y_range.end), len(self._names))
        elif y_view is not None and None not in y_view and rows == len(self._names):
            fig.y_range.update(start=y_view[0], end=y_view[1])
        self._reframing = False
        show_row_names(fig.yaxis[0].formatter, self._names)
        show_row_names(self._row_hover, self._names)
        hover = fig.select_one(HoverTool)
        if hover is not None:  # rasterize keeps only row numbers: name the row's contract
            # HoloViews resets the tooltips on redraw; equal values send nothing.
            hover.tooltips = [
                ("contract", "$y{symbol}"),
                ("minute", "$x{%H:%M} UTC"),
                ("imbalance", "@image{+0.00}"),
            ]
            hover.formatters = {"$y": self._row_hover, "$x": "datetime"}

    # ------------------------------------------------------------------ data

    def _clicked(self, symbol: str) -> None:
        if symbol:
            self.selected = symbol

    @param.depends("selected", watch=True)
    def _on_selected(self) -> None:
        self.refresh_cvd()

    @param.depends("window", "min_volume", watch=True)
    def _on_window(self) -> None:
        self.refresh_rankings()

    @param.depends("span", watch=True)
    def _on_span(self) -> None:
        self.refresh_charts()

    @param.depends("order", watch=True)
    def _on_order(self) -> None:
        self._resort()

    def _resort(self) -> None:
        """A new row order from the current values (only on the trader's request)."""
        self.rows.resort(self._symbols(), self.order, *self._order_keys())
        self._run("refresh_charts")

    def _symbols(self) -> list[str]:
        return sorted(self.engine.registry.active)

    def _order_keys(self) -> tuple[dict[str, float], dict[str, float]]:
        registry = self.engine.registry
        volume = {registry.symbol(sym): v for sym, v in self.engine.quote_volume_24h.items()}
        now = int(time.time() * 1000)
        ranking = self.tracker.ranking(now, self.window)
        return volume, dict(zip(ranking["symbol"], ranking["imbalance"], strict=True))

    def _tapped(self, y: float | None) -> None:
        if y is None or not self._names:
            return
        row = round(y)
        if 0 <= row < len(self._names):
            self.selected = self._names[row]
            self.param.trigger("open_footprint")

    def rankings(self, now_ms: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        buyers, sellers = ranking_tables(
            self.tracker.ranking(now_ms, self.window), self.window, self.min_volume,
            oi_change=self.engine.open_interest.change_pct(),
        )  # fmt: skip
        return buyers, sellers

    def refresh_rankings(self) -> None:
        buyers, sellers = self.rankings()
        update_table(
            self.buyers, buyers.assign(imbalance_side=np.full(len(buyers), "buy", dtype=object))
        )
        update_table(
            self.sellers, sellers.assign(imbalance_side=np.full(len(sellers), "sell", dtype=object))
        )

    def refresh_charts(self) -> None:
        frame = self.tracker.heatmap(int(time.time() * 1000), SPANS[self.span])
        if len(frame) == 0:
            config = self.engine.config
            history = store_reason(config.db_path, self.engine.store is not None)
            self.empty.show(
                self.empty_reason(f"no trades yet · {history}" if history else "no trades yet")
            )
        else:
            self.empty.hide()
        symbols = set(self._symbols()).union(frame.index)
        if symbols != set(self.rows.rows):  # listings or delistings: place them
            self.rows.update(symbols, *self._order_keys())
        rows = self.rows.rows
        frame = frame.reindex(pd.Index(rows, dtype=object)) if len(frame) else frame
        # Re-rasterize only when something changed (an idle market costs nothing); the live
        # minute's column at most every LIVE_CHART_S, a new minute, row or span at once.
        shape = (tuple(frame.index), tuple(frame.columns))
        changed = self._sent is None or not self._sent.equals(frame)
        if self._heat_limit.due(shape, changed):
            self._sent = frame
            image, self._names = heatmap_image(frame)
            if hasattr(self, "_search") and self._search.options != self._names:
                self._search.options = list(self._names)
            self._reframing = True
            extent = image.bounds.lbrt()[::2]
            if extent != self._x_extent:  # new minutes or a new span: show all of them
                self._x_extent = extent
                for stream in self._heat_ranges:
                    stream.update(x_range=None)  # rasterize then spans the data, not the view
            self.heat_pipe.send(image)
        if hasattr(self, "_warm_note"):
            self._warm_note.object = self.kline_note()
        self.refresh_breadth()
        self.refresh_cvd()

    def kline_note(self) -> str:
        """Where the heatmap's minutes come from 1m klines (the engine's warm-up): before the
        engine's first live minute, with no book imbalance and no big orders there."""
        tracker = self.tracker
        if not tracker.kline_minutes or tracker.first_minute is None:
            return ""
        since = time.strftime("%H:%M", time.gmtime((tracker.first_minute + 1) * 60))
        return f"before {since} UTC: 1m klines · no book, no big orders"

    def refresh_breadth(self) -> None:
        breadth = self.engine.analytics.breadth(int(time.time() * 1000), SPANS[self.span])
        key = (len(breadth), *breadth.iloc[-1].tolist()) if len(breadth) else ()
        if self._breadth_limit.due(key[:2], key != self._breadth_key):
            self._breadth_key = key
            self.breadth_pipe.send(breadth_strip(breadth))

    def refresh_cvd(self) -> None:
        if not self.selected:
            return
        if self.selected not in self.engine.registry.active:
            if hasattr(self, "_cvd_title"):
                self._cvd_title.object = html.escape(f"{self.selected}: not listed (any more)")
            return
        cvd = self.tracker.cvd(self.selected, int(time.time() * 1000), SPANS[self.span])
        self.cvd_pipe.send(
            pd.DataFrame(
                {"time": pd.to_datetime(cvd["minute"] + 60_000, unit="ms"), "cvd": cvd["cvd"]}
            )
        )
        last = float(cvd["cvd"].iloc[-1]) if len(cvd) else 0.0
        if hasattr(self, "_cvd_title"):
            self._cvd_pane.visible = True
            self._cvd_title.object = html.escape(
                f"{self.selected} · cumulative volume delta · last {self.span}: {last:+,.6g}"
            )
