"""Screener tab: big taker orders of every contract as they hit the market.

Rows come from the engine's `BigOrderDetector` history by sequence number: each refresh asks
for the orders after the last one shown and streams only those (newest on top, a bounded
table). Changing a filter rebuilds the table from the same history.
"""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from dashboard import widgets
from dashboard.empty import EmptyState
from dashboard.live import LiveView
from dashboard.sound import Beeper
from dashboard.theme import BORDER, MONO, MUTED, TABLE_CSS, as_float, tint_formatter
from pipelines.analytics.search import matches

COLUMNS = (
    "seq", "time", "symbol", "side", "quantity", "vwap", "notional", "pct_adv", "pct_oi", "fills",
)  # fmt: skip
TITLES = {
    "time": "time UTC", "symbol": "symbol", "side": "side", "quantity": "quantity",
    "vwap": "VWAP", "notional": "notional $", "pct_adv": "% ADV", "pct_oi": "% OI", "fills": "fills",
}  # fmt: skip
THRESHOLDS = {
    "0.001 %": 0.001, "0.005 %": 0.005, "0.01 %": 0.01, "0.05 %": 0.05, "0.1 %": 0.1,
    "0.25 %": 0.25, "0.5 %": 0.5, "1 %": 1.0, "2 %": 2.0, "5 %": 5.0,
}  # fmt: skip
MIN_NOTIONALS = {
    "any": 0,
    "10K": 10_000,
    "50K": 50_000,
    "100K": 100_000,
    "250K": 250_000,
    "1M": 1_000_000,
}
ROWS = 500
FULL_TINT_PCT_ADV = 5.0  # % of ADV at which a row is fully coloured


class BigOrdersView(LiveView):
    """Big taker orders (≥ threshold × ADV), newest first."""

    threshold_pct = param.Number(
        default=0.5, bounds=(0.001, 100.0), doc="Big when ≥ this % of ADV."
    )
    min_notional = param.Number(default=0.0, bounds=(0, None), doc="And at least this many USD.")
    symbol_filter = param.String(default="", doc="Comma-separated parts of symbols to show.")
    paused = param.Boolean(default=False, doc="Stop adding rows (they are not lost).")
    rows = param.Integer(default=ROWS, bounds=(10, 5000), doc="Rows kept in the table.")

    _schedules = (("refresh", 250),)

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self._seq = 0
        self._built = False
        self.shown = 0  # rows streamed since the last rebuild
        self.table = pn.widgets.Tabulator(
            self._empty(), show_index=False, disabled=True, selectable=False, sortable=False,
            hidden_columns=["seq"], titles=TITLES, formatters=self._formatters(),
            sorters=[{"field": "seq", "dir": "desc"}], layout="fit_columns",
            stylesheets=[TABLE_CSS], sizing_mode="stretch_both", min_height=400,
            header_align={c: "right" for c in ("quantity", "vwap", "notional", "pct_adv", "pct_oi", "fills")},
        )  # fmt: skip
        self.empty = EmptyState("screener")

    def _empty(self) -> pd.DataFrame:
        frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS})
        frame["symbol"] = frame["symbol"].astype(object)
        frame["side"] = frame["side"].astype(object)
        return frame

    @staticmethod
    def _formatters() -> dict:
        tint = {"scale_field": "pct_adv", "full_scale": FULL_TINT_PCT_ADV}
        return {
            "time": tint_formatter("time", millis=True, **tint),
            "symbol": tint_formatter("text", **tint),
            "side": tint_formatter("side", **tint),
            "quantity": tint_formatter("num", **tint),
            "vwap": tint_formatter("num", **tint),
            "notional": tint_formatter("num", decimals=0, **tint),
            "pct_adv": tint_formatter("num", decimals=3, suffix=" %", **tint),
            "pct_oi": tint_formatter("num", decimals=3, suffix=" %", **tint),
            "fills": tint_formatter("num", decimals=0, **tint),
        }

    # ------------------------------------------------------------------ layout

    def _layout(self) -> pn.viewable.Viewable:
        threshold = widgets.Select(options=THRESHOLDS, width=90, margin=(2, 6))
        threshold.value = min(THRESHOLDS.values(), key=lambda v: abs(v - self.threshold_pct))
        threshold.link(self, value="threshold_pct", bidirectional=True)
        floor = widgets.Select(
            options=MIN_NOTIONALS, value=self.min_notional, width=80, margin=(2, 6)
        )
        floor.link(self, value="min_notional", bidirectional=True)
        search = pn.widgets.TextInput(
            placeholder="symbols, e.g. BTC,ETH", value=self.symbol_filter, width=200, margin=(2, 6)
        )
        search.link(self, value_input="symbol_filter")
        pause = pn.widgets.Toggle(label="pause", value=self.paused, width=70, margin=(2, 6))
        pause.link(self, value="paused", bidirectional=True)
        self.beeper = Beeper(margin=(4, 6))
        self._count = pn.pane.HTML(
            "", margin=(6, 8), styles={"color": MUTED, "font-family": MONO, "font-size": "12px"}
        )
        label = {"color": MUTED, "font-size": "12px"}
        controls = pn.Row(
            pn.pane.HTML("≥ ADV", margin=(6, 0, 6, 8), styles=label), threshold,
            pn.pane.HTML("min $", margin=(6, 0, 6, 8), styles=label), floor,
            search, pause, self.beeper, pn.layout.HSpacer(), self._count,
            sizing_mode="stretch_width", styles={"border-bottom": f"1px solid {BORDER}"},
        )  # fmt: skip
        return pn.Column(controls, self.empty, self.table, sizing_mode="stretch_both", margin=0)

    # ------------------------------------------------------------------ data

    @property
    def detector(self):
        return self.engine.analytics.orders

    def _select(self, orders: pd.DataFrame) -> pd.DataFrame:
        if len(orders) == 0:
            return self._empty()
        orders = orders[matches(orders["symbol"], self.symbol_filter).to_numpy()]
        share = self.engine.open_interest.share_pct(orders["symbol"], orders["quantity"])
        orders = orders.assign(pct_oi=share)
        return as_float(
            orders.loc[:, list(COLUMNS)].reset_index(drop=True), ("seq", "time", "fills")
        )

    def _since(self, seq: int) -> pd.DataFrame:
        if self.threshold_pct / 100.0 < self.detector.keep_fraction:
            # The detector keeps orders down to its keep level only; lower it for this view.
            self.detector.threshold = self.threshold_pct / 100.0
        return self.detector.big_since(
            seq, threshold=self.threshold_pct / 100.0, min_notional=self.min_notional
        )

    @param.depends("threshold_pct", "min_notional", "symbol_filter", "rows", watch=True)
    def rebuild(self) -> None:
        """Refill the table from the detector's history with the current filters."""
        orders = self._since(0)
        self._seq = self.detector.last_seq
        self._built = True
        self.table.value = self._select(orders).tail(self.rows).reset_index(drop=True)
        self.shown = len(self.table.value)
        self._show_count()

    @param.depends("paused", watch=True)
    def _on_pause(self) -> None:
        if not self.paused:
            self.refresh()

    def refresh(self) -> None:
        if self.paused:
            return
        if not self._built:
            self.rebuild()
            return
        last = self.detector.last_seq
        if last == self._seq:
            if not len(self.table.value):
                self._show_count()  # the reason may have changed (connected, then data)
            return
        new = self._select(self._since(self._seq))
        self._seq = last
        if len(new):
            self.table.stream(new, rollover=self.rows, reset_index=True)
            self.shown += len(new)
            if hasattr(self, "beeper"):
                self.beeper.side = str(new["side"].iloc[-1])
                self.beeper.count += 1
        self._show_count()

    def _show_count(self) -> None:
        if len(self.table.value):
            self.empty.hide()
        else:
            self.empty.show(
                self.empty_reason(f"no big orders yet at ≥ {self.threshold_pct:g} % ADV")
            )
        if hasattr(self, "_count"):
            self._count.object = (
                f"{len(self.table.value):,} orders · ≥ {self.threshold_pct:g} % ADV"
            )
