"""Liquidations tab: forced orders of every contract, totals, a per-minute histogram, a ranking.

The feed streams the tracker's rows after the last sequence number shown. Binance publishes at
most one liquidation per contract per second, so every figure here is a lower bound; the page
says so.
"""

from __future__ import annotations

import time

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from dashboard import widgets
from dashboard.empty import EmptyState
from dashboard.live import LiveMinuteLimit, LiveView
from dashboard.sound import Beeper
from dashboard.tables import update_table
from dashboard.theme import (
    BORDER,
    BUY,
    MONO,
    MUTED,
    SELL,
    TABLE_CSS,
    as_float,
    plot_opts,
    thousands_formatter,
    tint_formatter,
    utc_time_hook,
)
from pipelines.analytics.liquidations import WINDOWS

FEED_COLUMNS = ("seq", "time", "symbol", "side", "price", "qty", "notional", "pct_oi", "cap")
FEED_TITLES = {
    "time": "time UTC",
    "symbol": "symbol",
    "side": "liquidated",
    "price": "price",
    "qty": "quantity",
    "notional": "notional $",
    "pct_oi": "% OI",
    "cap": "cap",
}
CAPPED_MARK = "≥"  # the feed's cap column: this second may have hidden more
MIN_NOTIONALS = {
    "any": 0,
    "1K": 1_000,
    "10K": 10_000,
    "50K": 50_000,
    "100K": 100_000,
    "1M": 1_000_000,
}
HISTOGRAM_SPANS = {"1h": 60, "4h": 240, "12h": 720, "24h": 1440}
ROWS = 500
NOTE = (
    "Binance publishes at most one liquidation per contract per second: totals and counts are "
    "a lower bound; ≥ marks a contract-second at that cap (reported in consecutive seconds), "
    "capped % the share of notional there."
)
ALERTS = {"off": 0, "100K": 100_000, "250K": 250_000, "1M": 1_000_000, "5M": 5_000_000}


def totals_table(totals: pd.DataFrame) -> pd.DataFrame:
    """Long vs short liquidated notional and counts over every window, summed over contracts."""
    rows = []
    for window in WINDOWS:
        part = totals[totals["window"] == window]
        rows.append(
            {
                "window": window,
                "long": float(part["long_notional"].sum()),
                "short": float(part["short_notional"].sum()),
                "total": float(part["total_notional"].sum()),
                "count": float(part["long_count"].sum() + part["short_count"].sum()),
                # A float, not a 0-d array: an object column never compares equal, so the
                # table would be patched on every refresh with nothing changed.
                "capped": float(
                    capped_share(part["capped_notional"].sum(), part["total_notional"].sum())
                ),
            }
        )
    return pd.DataFrame(rows)


def capped_share(capped: object, total: object) -> float:
    """Percent of the notional in capped contract-seconds; NaN without any notional."""
    capped, total = np.asarray(capped, dtype=np.float64), np.asarray(total, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 100.0 * capped / total, np.nan)


def feed_rows(rows: pd.DataFrame, pct_oi: np.ndarray) -> pd.DataFrame:
    """The tracker's rows as the feed shows them: `cap` marks a capped contract-second,
    `pct_oi` is the quantity as % of the contract's open interest."""
    cap = np.where(rows["capped"].to_numpy(dtype=bool), CAPPED_MARK, "").astype(object)
    rows = rows.assign(cap=cap, pct_oi=pct_oi)
    return as_float(rows.loc[:, list(FEED_COLUMNS)], ("seq", "time"))


def histogram_rectangles(histogram: pd.DataFrame) -> hv.Rectangles:
    """Shorts liquidated up (green), longs down (red), one bar pair per minute."""
    t = histogram["minute"].to_numpy(dtype=np.float64)
    short = histogram["short_notional"].to_numpy(dtype=np.float64)
    long = histogram["long_notional"].to_numpy(dtype=np.float64)
    keep_s, keep_l = short > 0, long > 0
    x0 = np.r_[t[keep_s], t[keep_l]] + 4_000
    x1 = np.r_[t[keep_s], t[keep_l]] + 56_000
    y0 = np.zeros(len(x0))
    y1 = np.r_[short[keep_s], -long[keep_l]]
    colour = np.r_[np.full(keep_s.sum(), BUY), np.full(keep_l.sum(), SELL)].astype(object)
    data = pd.DataFrame({"x0": x0, "y0": y0, "x1": x1, "y1": y1, "color": colour})
    return hv.Rectangles(data, kdims=["x0", "y0", "x1", "y1"], vdims=["color"])


class LiquidationsView(LiveView):
    """Live forced orders with totals, histogram and ranking (all lower bounds)."""

    min_notional = param.Number(
        default=0.0, bounds=(0, None), doc="Hide liquidations below this USD."
    )
    ranking_window = param.Selector(default="1h", objects=list(WINDOWS), doc="Ranking window.")
    histogram_span = param.Selector(
        default="1h", objects=list(HISTOGRAM_SPANS), doc="Histogram history."
    )
    rows = param.Integer(default=ROWS, bounds=(10, 5000), doc="Rows kept in the feed.")
    alert_notional = param.Number(
        default=0.0, bounds=(0, None), doc="Beep for a liquidation of at least this USD (0: off)."
    )

    _schedules = (("refresh_feed", 250), ("refresh_charts", 5000))

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self._seq = 0
        self._started = False
        tint = {"scale_field": "notional", "full_scale": 1_000_000.0, "top_alpha": 0.5}
        self.feed = pn.widgets.Tabulator(
            self._empty_feed(), show_index=False, disabled=True, selectable=False, sortable=False,
            hidden_columns=["seq"], titles=FEED_TITLES, layout="fit_columns",
            sorters=[{"field": "seq", "dir": "desc"}], stylesheets=[TABLE_CSS],
            sizing_mode="stretch_both", min_height=400,
            formatters={
                "time": tint_formatter("time", **tint), "symbol": tint_formatter("text", **tint),
                "side": tint_formatter("side", **tint), "price": tint_formatter("num", **tint),
                "qty": tint_formatter("num", **tint),
                "notional": tint_formatter("num", decimals=0, **tint),
                "pct_oi": tint_formatter("num", decimals=3, suffix=" %", **tint),
            },
            header_align={c: "right" for c in ("price", "qty", "notional")},
        )  # fmt: skip
        money = {"type": "money", "thousand": ",", "precision": 0, "symbol": ""}
        numbers = ("long", "short", "total", "count", "capped")
        # The totals and the ranking show the same four numeric columns the same way.
        shared = dict(
            show_index=False, disabled=True, selectable=False, stylesheets=[TABLE_CSS],
            formatters=dict.fromkeys(numbers, money), text_align=dict.fromkeys(numbers, "right"),
            header_align=dict.fromkeys(numbers, "right"), layout="fit_data_stretch",
        )  # fmt: skip
        titles = {
            "long": "longs ≥ $", "short": "shorts ≥ $", "total": "total ≥ $", "count": "count ≥",
            "capped": "capped %",
        }  # fmt: skip
        self.totals = pn.widgets.Tabulator(
            totals_table(pd.DataFrame(columns=["window", "long_notional", "short_notional", "total_notional", "long_count", "short_count", "capped_notional"])),
            sortable=False, titles={"window": "", **titles}, sizing_mode="stretch_width", height=128,
            **shared,
        )  # fmt: skip
        self.ranking = pn.widgets.Tabulator(
            pd.DataFrame({"symbol": pd.Series(dtype=object), "long": [], "short": [], "total": [], "count": pd.Series(dtype="float64"), "capped": pd.Series(dtype="float64")}),
            titles={"symbol": "symbol", **titles}, sizing_mode="stretch_both", min_height=200,
            **shared,
        )  # fmt: skip
        self.histogram_pipe = hv.streams.Pipe(data=histogram_rectangles(self._empty_histogram()))
        self._histogram_limit = LiveMinuteLimit()  # shape: (minute, span, floor)
        self._histogram_sent: pd.DataFrame | None = None  # the bars last drawn
        self.empty = EmptyState("liquidations")

    @staticmethod
    def _empty_feed() -> pd.DataFrame:
        return pd.DataFrame(
            {
                "seq": pd.Series(dtype="float64"), "time": pd.Series(dtype="float64"),
                "symbol": pd.Series(dtype=object), "side": pd.Series(dtype=object),
                "price": pd.Series(dtype="float64"), "qty": pd.Series(dtype="float64"),
                "notional": pd.Series(dtype="float64"), "pct_oi": pd.Series(dtype="float64"),
                "cap": pd.Series(dtype=object),
            }
        )  # fmt: skip

    @staticmethod
    def _empty_histogram() -> pd.DataFrame:
        return pd.DataFrame({"minute": [], "long_notional": [], "short_notional": []})

    @property
    def tracker(self):
        return self.engine.analytics.liquidations

    # ------------------------------------------------------------------ layout

    def _layout(self) -> pn.viewable.Viewable:
        label = {"color": MUTED, "font-size": "12px"}
        floor = widgets.Select(
            options=MIN_NOTIONALS, value=self.min_notional, width=80, margin=(2, 6)
        )
        floor.link(self, value="min_notional", bidirectional=True)
        window = widgets.RadioButtonGroup(
            options=list(WINDOWS), value=self.ranking_window, margin=(2, 6)
        )
        window.link(self, value="ranking_window", bidirectional=True)
        span = widgets.RadioButtonGroup(
            options=list(HISTOGRAM_SPANS), value=self.histogram_span, margin=(2, 6)
        )
        span.link(self, value="histogram_span", bidirectional=True)
        alert = widgets.Select(options=ALERTS, value=self.alert_notional, width=80, margin=(2, 6))
        alert.link(self, value="alert_notional", bidirectional=True)
        self.beeper = Beeper(margin=(4, 6))
        controls = pn.Row(
            pn.pane.HTML("min $", margin=(6, 0, 6, 8), styles=label), floor,
            pn.pane.HTML("ranking", margin=(6, 0, 6, 8), styles=label), window,
            pn.pane.HTML("histogram", margin=(6, 0, 6, 8), styles=label), span,
            pn.pane.HTML("alert ≥ $", margin=(6, 0, 6, 8), styles=label), alert, self.beeper,
            pn.layout.HSpacer(),
            pn.pane.HTML(NOTE, margin=(6, 8), styles={"color": MUTED, "font-size": "11px", "font-style": "italic"}),
            sizing_mode="stretch_width", styles={"border-bottom": f"1px solid {BORDER}"},
        )  # fmt: skip
        histogram = hv.DynamicMap(lambda data: data, streams=[self.histogram_pipe], cache_size=1).opts(
            hv.opts.Rectangles(
                color="color", line_width=0, framewise=True, xlabel="", ylabel="liquidated $ / min",
                yformatter=thousands_formatter(), hooks=[utc_time_hook], **plot_opts(height=230),
            )
        )  # fmt: skip
        heading = {"color": MUTED, "font-size": "11px", "letter-spacing": ".05em"}
        right = pn.Column(
            pn.pane.HTML("TOTALS · shorts up, longs down below", margin=(4, 8, 0, 8), styles=heading),
            self.totals, pn.pane.HoloViews(histogram, sizing_mode="stretch_width", height=230),
            pn.pane.HTML("BY CONTRACT", margin=(4, 8, 0, 8), styles=heading), self.ranking,
            sizing_mode="stretch_both",
        )  # fmt: skip
        self._count = pn.pane.HTML(
            "", margin=(2, 8), styles={"color": MUTED, "font-family": MONO, "font-size": "12px"}
        )
        left = pn.Column(self.empty, self.feed, self._count, sizing_mode="stretch_both")
        return pn.Column(
            controls,
            pn.Row(left, right, sizing_mode="stretch_both"),
            sizing_mode="stretch_both",
            margin=0,
        )

    # ------------------------------------------------------------------ data

    @param.depends("min_notional", "rows", watch=True)
    def rebuild_feed(self) -> None:
        rows = self.tracker.since(0, min_notional=self.min_notional)
        self._seq = self.tracker.last_seq
        rows = feed_rows(rows, self._pct_oi(rows))
        self.feed.value = rows.tail(self.rows).reset_index(drop=True)
        self._started = True
        self._show_empty()
        self.refresh_charts()

    def refresh_feed(self) -> None:
        if not self._started:
            self.rebuild_feed()
            return
        last = self.tracker.last_seq
        if last != self._seq:
            new = self.tracker.since(self._seq, min_notional=self.min_notional)
            self._seq = last
            if len(new):
                self._alert(new)
                self.feed.stream(
                    feed_rows(new, self._pct_oi(new)), rollover=self.rows, reset_index=True
                )
            if hasattr(self, "_count"):
                self._count.object = f"{len(self.feed.value):,} shown"
        self._show_empty()

    def _pct_oi(self, rows: pd.DataFrame) -> np.ndarray:
        return self.engine.open_interest.share_pct(rows["symbol"], rows["qty"])

    def _alert(self, new: pd.DataFrame) -> None:
        """One beep for the new rows at or above the alert level: high for shorts
        liquidated (forced buying), low for longs (forced selling)."""
        if not self.alert_notional or not hasattr(self, "beeper"):
            return
        loud = new[new["notional"] >= self.alert_notional]
        if len(loud):
            self.beeper.side = "buy" if loud["side"].iloc[-1] == "short" else "sell"
            self.beeper.count += 1

    def _show_empty(self) -> None:
        if len(self.feed.value):
            self.empty.hide()
        else:
            floor = f" of ≥ {self.min_notional:,.0f} $" if self.min_notional else ""
            self.empty.show(self.empty_reason(f"no liquidations{floor} yet"))

    @param.depends("ranking_window", "histogram_span", watch=True)
    def refresh_charts(self) -> None:
        now = int(time.time() * 1000)
        totals = self.tracker.totals(now, min_notional=self.min_notional)
        update_table(self.totals, totals_table(totals))
        ranking = totals[totals["window"] == self.ranking_window].sort_values(
            ["total_notional", "symbol"], ascending=[False, True]
        )
        update_table(
            self.ranking,
            pd.DataFrame(
                {
                    "symbol": ranking["symbol"].astype(object).to_numpy(),
                    "long": ranking["long_notional"].to_numpy(dtype=np.float64),
                    "short": ranking["short_notional"].to_numpy(dtype=np.float64),
                    "total": ranking["total_notional"].to_numpy(dtype=np.float64),
                    "count": (ranking["long_count"] + ranking["short_count"]).to_numpy(
                        dtype=np.float64
                    ),
                    "capped": capped_share(ranking["capped_notional"], ranking["total_notional"]),
                }
            ),
        )
        histogram = self.tracker.histogram(
            now, minutes=HISTOGRAM_SPANS[self.histogram_span], min_notional=self.min_notional
        )
        # Redrawn at once for a new minute, span or floor; for new bars in this minute at most
        # every LIVE_CHART_S (the axis ends a minute past this one).
        minute = now // 60_000 * 60_000
        shape = (minute, self.histogram_span, self.min_notional)
        sent = self._histogram_sent
        if not self._histogram_limit.due(shape, sent is None or not sent.equals(histogram)):
            return
        self._histogram_sent = histogram
        start = float(histogram["minute"].iloc[0]) if len(histogram) else minute - 3_600_000.0
        rects = histogram_rectangles(histogram).opts(xlim=(start, minute + 120_000.0))
        self.histogram_pipe.send(rects)
