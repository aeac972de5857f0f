"""Signals tab: order-flow signals of every contract as their bars close.

* the newest signals across all contracts, streamed from the engine's `SignalTracker` by
  sequence number (newest on top, a bounded table) and narrowed by the trader's filters, which
  the tracker applies (`SignalFilter`); a filter change rebuilds the table from its history;
* contracts ranked by net buy − sell signals over the last 15 or 60 minutes (the tracker's
  `ranking`, under the same filters but the contract search);
* with a research output directory, the record of the selected signal's contract, timeframe,
  kind and side (`pipelines.research.signal_record`, read in a worker thread);
* a click on a signal selects it (`selected`) and asks for its footprint (`open_footprint`);
  the app opens the Footprint tab on its bar (`FootprintView.show_signal`).
"""

from __future__ import annotations

import html
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pandas as pd
import panel as pn
import param

from dashboard import widgets
from dashboard.clicks import on_shown_click
from dashboard.empty import EmptyState
from dashboard.live import LiveView
from dashboard.sound import Beeper
from dashboard.tables import update_table
from dashboard.theme import (
    BORDER,
    MONO,
    MUTED,
    TABLE_CSS,
    TEXT,
    TOGGLE_CSS,
    as_float,
    tint_formatter,
)
from pipelines.analytics.footprint import timeframe_ms
from pipelines.analytics.signal_tracker import RANKING_COLUMNS, SignalFilter, SignalTracker
from pipelines.analytics.signals import KINDS, SIGNAL_TIMEFRAMES, direction

log = logging.getLogger(__name__)

COLUMNS = (
    "seq", "time", "symbol", "timeframe", "signal", "side", "price", "levels", "notional",
    "strength", "direction",
)  # fmt: skip
TITLES = {
    "time": "close UTC", "symbol": "contract", "timeframe": "tf", "signal": "signal", "side": "side",
    "price": "price", "levels": "levels × bin", "notional": "volume $", "strength": "strength",
}  # fmt: skip
# Pixels for the columns whose text must not be cut (a price range of a 5-digit contract);
# the others share the rest of the table's width.
WIDTHS = {"signal": 150, "price": 200, "levels": 110, "strength": 80}
RANK_TITLES = {"symbol": "contract", "signals": "all"}
KIND_LABELS = {
    "stacked_imbalance": "stacked imbalance", "unfinished_auction": "unfinished auction",
    "absorption": "absorption", "exhaustion": "exhaustion", "delta_divergence": "delta divergence",
    "naked_poc_touch": "naked POC touch",
}  # fmt: skip
KIND_BUTTONS = {
    "stacked": "stacked_imbalance", "auction": "unfinished_auction", "absorption": "absorption",
    "exhaustion": "exhaustion", "divergence": "delta_divergence", "naked POC": "naked_poc_touch",
}  # fmt: skip
# The side filter by what a signal says of direction (analytics.signals.DIRECTION).
SIDE_CHOICES = {"all": (1, -1, 0), "buy": (1,), "sell": (-1,), "neutral": (0,)}
DIRECTION_NAMES = {1: "buy", -1: "sell", 0: "neutral"}
MIN_NOTIONALS = {
    "any": 0, "5K": 5_000, "10K": 10_000, "25K": 25_000, "50K": 50_000, "100K": 100_000,
    "250K": 250_000, "1M": 1_000_000,
}  # fmt: skip
STRENGTHS = {
    "any": 0.0, "1": 1.0, "2": 2.0, "3": 3.0, "4": 4.0, "5": 5.0, "6": 6.0, "8": 8.0,
    "10": 10.0, "15": 15.0, "20": 20.0,
}  # fmt: skip
# About 21 signals a minute pass on the demo at 600 contracts and 1,000 trades/s, 200 at any
# strength (docs/user-guide.md, Signals).
DEFAULT_STRENGTH = 6.0
RANK_WINDOWS = {"15m": 15, "60m": 60}
ROWS = 500
FULL_TINT_STRENGTH = 12.0  # strength at which a row is fully coloured
# (pitch Hz, beeps, timbre) per kind: told apart by ear without looking.
SOUNDS = {
    "stacked_imbalance": (880.0, 1, "sine"),
    "unfinished_auction": (660.0, 2, "sine"),
    "absorption": (330.0, 1, "square"),
    "exhaustion": (520.0, 2, "triangle"),
    "delta_divergence": (990.0, 3, "triangle"),
    "naked_poc_touch": (440.0, 1, "sawtooth"),
}
RECORD_TTL_S = 600.0  # a record read is reused this long (research outputs change rarely)
# Columns of a record row that name it rather than describe it.
_RECORD_KEYS = ("symbol", "timeframe", "kind", "side")


# ------------------------------------------------------------------ the research record

_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="signal-record")
_READS: dict[tuple[str, str, str], tuple[float, Future]] = {}


def _read_record(out_dir: str, symbol: str, timeframe: str) -> pd.DataFrame:
    # Imported here: pipelines.research imports Dask, seconds on first use.
    from pipelines.research import signal_record

    return signal_record(out_dir, symbols=[symbol], timeframes=[timeframe])


def record_of(out_dir: str, symbol: str, timeframe: str) -> Future:
    """The research record of a contract and timeframe, read once per RECORD_TTL_S for every
    session, off the server's loop."""
    key = (out_dir, symbol, timeframe)
    held = _READS.get(key)
    if held is None or time.monotonic() - held[0] > RECORD_TTL_S:
        held = _READS[key] = (time.monotonic(), _POOL.submit(_read_record, *key))
    return held[1]


def _bp(value: object) -> str:
    """A return (a fraction) in basis points; – when unknown."""
    v = float(value) if value is not None else np.nan
    return "–" if not np.isfinite(v) else f"{v * 1e4:+,.1f} bp"


def _pct(value: object) -> str:
    v = float(value) if value is not None else np.nan
    return "–" if not np.isfinite(v) else f"{v * 100:.1f} %"


def record_html(name: str, row: pd.Series) -> str:
    """One record row (pipelines.research.record: count, and per horizon the mean and median
    return after the bar's close and the hit rate) as a small table."""
    cell = 'style="text-align:right;padding-left:14px"'
    head = "".join(f"<td {cell}>{t}</td>" for t in ("mean", "median", "hit rate"))
    lines = [f'<tr style="color:{MUTED}"><td></td>{head}</tr>']
    for column in row.index:
        if not str(column).startswith("mean_return_"):
            continue
        horizon = str(column).removeprefix("mean_return_")
        values = (_bp(row[column]), _bp(row.get(f"median_return_{horizon}")),
                  _pct(row.get(f"hit_rate_{horizon}")))  # fmt: skip
        cells = "".join(f"<td {cell}>{html.escape(v)}</td>" for v in values)
        lines.append(f'<tr><td style="color:{MUTED}">after {html.escape(horizon)}</td>{cells}</tr>')
    count = row.get("count")
    signals = f" · {int(count):,} signals" if count is not None and np.isfinite(count) else ""
    return f"<div>{html.escape(name + signals)}</div><table>{''.join(lines)}</table>"


# ------------------------------------------------------------------ rows as shown


def signal_rows(frame: pd.DataFrame, registry) -> pd.DataFrame:
    """The tracker's signal frame as the table's columns: prices on each contract's grid,
    levels with their bin, the direction that colours the row."""
    if len(frame) == 0:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
        return as_float(empty, ("seq", "time", "notional", "strength"))
    prices, levels = [], []
    for row in frame.itertuples(index=False):
        spec = registry.spec(row.symbol)
        d = spec.price_decimals
        low, high = f"{row.price_low:,.{d}f}", f"{row.price_high:,.{d}f}"
        prices.append(low if row.price_high == row.price_low else f"{low} – {high}")
        levels.append(f"{row.levels} × {spec.format_price(int(row.bin_ticks))}")
    ways = direction(frame["kind"], frame["side"])
    out = pd.DataFrame(
        {
            "seq": frame["seq"].to_numpy(),
            # When the signal was known: its bar's close (rows arrive in this order).
            "time": frame["bar_time"].to_numpy() + [timeframe_ms(tf) for tf in frame["timeframe"]],
            "symbol": frame["symbol"].to_numpy(),
            "timeframe": frame["timeframe"].to_numpy(),
            "signal": [KIND_LABELS[k] for k in frame["kind"]],
            "side": frame["side"].to_numpy(),
            "price": prices,
            "levels": levels,
            "notional": frame["notional"].to_numpy(),
            "strength": frame["strength"].to_numpy(),
            "direction": [DIRECTION_NAMES[int(w)] for w in ways],
        },
        columns=list(COLUMNS),
    )
    return as_float(out, ("seq", "time", "notional", "strength"))


def ranking_rows(ranking: pd.DataFrame) -> pd.DataFrame:
    """The tracker's ranking as shown: its columns, coloured by the sign of `net`."""
    out = ranking.loc[:, list(RANKING_COLUMNS)].reset_index(drop=True)
    net = out["net"].to_numpy(dtype=np.float64)
    sign = np.where(net > 0, "buy", np.where(net < 0, "sell", "neutral")).astype(object)
    out = as_float(out, ("buy", "sell", "net", "signals", "strength"))
    return out.assign(direction=sign)


class SignalsView(LiveView):
    """Order-flow signals of every contract, newest first, with the trader's filters."""

    kinds = param.ListSelector(default=list(KINDS), objects=list(KINDS), doc="Kinds shown.")
    side = param.Selector(
        default="all", objects=list(SIDE_CHOICES), doc="buy, sell or neutral signals (direction)."
    )
    timeframes = param.ListSelector(
        default=list(SIGNAL_TIMEFRAMES), objects=list(SIGNAL_TIMEFRAMES), doc="Bar lengths shown."
    )
    min_notional = param.Number(default=0.0, bounds=(0, None), doc="At least this many USD.")
    min_strength = param.Number(
        default=DEFAULT_STRENGTH, bounds=(0, None), doc="At least this strength."
    )
    symbol_filter = param.String(default="", doc="Comma-separated parts of contracts to show.")
    rank_window = param.Selector(
        default="15m", objects=list(RANK_WINDOWS), doc="The ranking's window."
    )
    rows = param.Integer(default=ROWS, bounds=(10, 5000), doc="Rows kept in the table.")
    research_dir = param.String(
        default=None, allow_None=True, doc="`orderflow research` output: the signals' record."
    )
    selected = param.Dict(
        default=None, allow_None=True, doc="The signal clicked (the tracker's columns)."
    )
    open_footprint = param.Event(doc="Fires when a click asks for `selected`'s footprint.")

    # New signals are looked for four times a second (a look finding none costs a comparison):
    # a bar's signals reach the page well within a second of its close.
    _schedules = (("refresh", 100), ("refresh_ranking", 3000))  # new signals at once

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self._seq = 0
        self._built = False
        self._ranked: tuple = ()  # what the ranking shown was computed from
        # The record shown: (out_dir, symbol, timeframe, kind, side) and the read it came from.
        self._record_shown: tuple[tuple, Future | None] = ((), None)
        self.table = pn.widgets.Tabulator(
            signal_rows(pd.DataFrame(), None), show_index=False, disabled=True, selectable=False,
            sortable=False, hidden_columns=["seq", "direction"], titles=TITLES,
            formatters=self._formatters(), sorters=[{"field": "seq", "dir": "desc"}],
            layout="fit_columns", widths=WIDTHS, stylesheets=[TABLE_CSS], sizing_mode="stretch_both",
            min_height=400, header_align={c: "right" for c in ("notional", "strength")},
        )  # fmt: skip
        self.ranking = pn.widgets.Tabulator(
            ranking_rows(pd.DataFrame({c: [] for c in RANKING_COLUMNS})), show_index=False,
            disabled=True, selectable=False, hidden_columns=["direction"], titles=RANK_TITLES,
            formatters=self._rank_formatters(), layout="fit_data_stretch", stylesheets=[TABLE_CSS],
            sizing_mode="stretch_both", min_height=200,
            header_align={c: "right" for c in RANKING_COLUMNS[1:]},
        )  # fmt: skip
        self.empty = EmptyState("signals")
        self.record = pn.pane.HTML(
            "", visible=bool(self.research_dir), margin=(2, 8), sizing_mode="stretch_width",
            styles={"color": TEXT, "font-family": MONO, "font-size": "12px"},
        )  # fmt: skip
        self._clicks = on_shown_click([self.table], "seq", self._clicked)

    @property
    def tracker(self) -> SignalTracker | None:
        return self.engine.analytics.signals

    @staticmethod
    def _formatters() -> dict:
        tint = {"side_field": "direction", "scale_field": "strength",
                "full_scale": FULL_TINT_STRENGTH}  # fmt: skip
        return {
            "time": tint_formatter("time", **tint),
            "symbol": tint_formatter("text", **tint),
            "timeframe": tint_formatter("text", **tint),
            "signal": tint_formatter("text", **tint),
            "side": tint_formatter("side", **tint),
            "price": tint_formatter("text", **tint),
            "levels": tint_formatter("text", **tint),
            "notional": tint_formatter("num", decimals=0, **tint),
            "strength": tint_formatter("num", decimals=1, **tint),
        }

    @staticmethod
    def _rank_formatters() -> dict:
        signed = {"side_field": "direction"}
        return {
            "symbol": tint_formatter("text", **signed),
            **{c: tint_formatter("num", decimals=0, **signed) for c in ("buy", "sell", "net")},
            "signals": tint_formatter("num", decimals=0, **signed),
            "strength": tint_formatter("num", decimals=1, **signed),
        }

    # ------------------------------------------------------------------ layout

    def _layout(self) -> pn.viewable.Viewable:
        toggles = {"margin": (2, 6), "stylesheets": [TOGGLE_CSS]}
        kinds = widgets.CheckButtonGroup(options=KIND_BUTTONS, value=list(self.kinds), **toggles)
        kinds.link(self, value="kinds", bidirectional=True)
        side = widgets.RadioButtonGroup(options=list(SIDE_CHOICES), value=self.side, **toggles)
        side.link(self, value="side", bidirectional=True)
        timeframes = widgets.CheckButtonGroup(
            options=list(SIGNAL_TIMEFRAMES), value=list(self.timeframes), **toggles
        )
        timeframes.link(self, value="timeframes", bidirectional=True)
        floor = widgets.Select(
            options=MIN_NOTIONALS, value=self.min_notional, width=75, margin=(2, 6)
        )
        floor.link(self, value="min_notional", bidirectional=True)
        strength = widgets.Select(
            options=STRENGTHS, value=self.min_strength, width=65, margin=(2, 6)
        )
        strength.link(self, value="min_strength", bidirectional=True)
        search = pn.widgets.TextInput(
            placeholder="contracts, e.g. BTC,ETH", value=self.symbol_filter, width=170,
            margin=(2, 6),
        )  # fmt: skip
        search.link(self, value_input="symbol_filter")
        window = widgets.RadioButtonGroup(
            options=list(RANK_WINDOWS), value=self.rank_window, **toggles
        )
        window.link(self, value="rank_window", bidirectional=True)
        self.beeper = Beeper(margin=(4, 6))
        self._count = pn.pane.HTML(
            "", margin=(6, 8), styles={"color": MUTED, "font-family": MONO, "font-size": "12px"}
        )
        label = {"color": MUTED, "font-size": "12px"}
        controls = pn.Row(
            kinds, side, timeframes,
            pn.pane.HTML("min $", margin=(6, 0, 6, 8), styles=label), floor,
            pn.pane.HTML("strength ≥", margin=(6, 0, 6, 8), styles=label), strength,
            search, self.beeper, pn.layout.HSpacer(), self._count,
            sizing_mode="stretch_width", styles={"border-bottom": f"1px solid {BORDER}"},
        )  # fmt: skip
        heading = {"color": MUTED, "font-size": "11px", "letter-spacing": ".05em"}
        self._record_title = pn.pane.HTML(
            "RECORD", visible=bool(self.research_dir), margin=(8, 8, 0, 8), styles=heading
        )
        right = pn.Column(
            pn.Row(pn.pane.HTML("NET SIGNALS", margin=(8, 8, 0, 8), styles=heading), window),
            self.ranking, self._record_title, self.record,
            width=470, sizing_mode="stretch_height",
        )  # fmt: skip
        left = pn.Column(self.empty, self.table, self._clicks, sizing_mode="stretch_both")
        return pn.Column(
            controls,
            pn.Row(left, right, sizing_mode="stretch_both"),
            sizing_mode="stretch_both",
            margin=0,
        )

    # ------------------------------------------------------------------ data

    def where(self, *, search: bool = True) -> SignalFilter:
        """The trader's filters as the tracker takes them (`search`: with the contract search)."""
        return SignalFilter(
            kinds=tuple(self.kinds), directions=SIDE_CHOICES[self.side],
            timeframes=tuple(self.timeframes), min_notional=float(self.min_notional),
            min_strength=float(self.min_strength), symbols=self.symbol_filter if search else "",
        )  # fmt: skip

    @param.depends(
        "kinds", "side", "timeframes", "min_notional", "min_strength", "symbol_filter", "rows",
        watch=True,
    )  # fmt: skip
    def rebuild(self) -> None:
        """Refill the table from the tracker's history with the current filters."""
        tracker = self.tracker
        self._built = True
        if tracker is None:
            self._show_state()
            return
        self._seq = tracker.last_seq
        frame = tracker.select(0, self.where(), last=self.rows)
        self.table.value = signal_rows(frame, self.engine.registry)
        self._show_state()
        self.refresh_ranking()

    def refresh(self) -> None:
        if not self._built:
            self.rebuild()
            return
        tracker = self.tracker
        if tracker is not None and tracker.last_seq != self._seq:
            frame = tracker.select(self._seq, self.where())
            self._seq = tracker.last_seq
            if len(frame):
                new = signal_rows(frame, self.engine.registry)
                self.table.stream(new, rollover=self.rows, reset_index=True)
                self._sound(frame)
        self._show_state()
        self._show_record()

    @param.depends("rank_window", watch=True)
    def refresh_ranking(self) -> None:
        tracker = self.tracker
        if tracker is None:
            return
        now = int(time.time() * 1000)
        where = self.where(search=False)
        # Recomputed when a signal arrives, a minute passes (the window moves) or a filter
        # changes: most refreshes of a quiet minute cost nothing.
        key = (tracker.last_seq, now // 60_000, where, self.rank_window)
        if key == self._ranked:
            return
        self._ranked = key
        ranking = tracker.ranking(now, RANK_WINDOWS[self.rank_window], where=where)
        update_table(self.ranking, ranking_rows(ranking))

    def _sound(self, frame: pd.DataFrame) -> None:
        """One sound for a refresh's new signals: the kind of the strongest."""
        if not hasattr(self, "beeper"):
            return
        kind = str(frame["kind"].iloc[int(np.argmax(frame["strength"].to_numpy()))])
        tone, pulses, wave = SOUNDS[kind]
        self.beeper.param.update(tone=tone, pulses=pulses, wave=wave)
        self.beeper.count += 1

    def _clicked(self, seq: str) -> None:
        tracker = self.tracker
        try:
            number = int(float(seq))
        except ValueError:
            return
        row = tracker.signal(number) if tracker is not None else None
        if row is None:
            return  # the tracker's history dropped it (far older than the table's rows)
        self.selected = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        self._show_record()
        self.param.trigger("open_footprint")

    # ------------------------------------------------------------------ states

    def _show_state(self) -> None:
        shown = len(self.table.value)
        reason = None if shown else self._reason()
        if reason is None:
            self.empty.hide()
        else:
            self.empty.show(reason)
        if hasattr(self, "_count"):
            self._count.object = f"{shown:,} signals"

    def _reason(self) -> str:
        tracker = self.tracker
        if tracker is None:
            return "signals are off in this engine (EngineConfig.signals = False)"
        if tracker.last_seq == 0:
            first = tracker.first_close_ms()
            if first is None:
                return self.empty_reason("waiting for the first trades")
            if len(tracker.bars) == 0:
                at = time.strftime("%H:%M:%S", time.gmtime(first / 1000))
                return self.empty_reason(
                    f"waiting for the first whole minute to close · signals from {at} UTC"
                )
            return self.empty_reason(f"no signals yet · {len(tracker.bars):,} bars closed")
        # Not the feed's reason: signals are there, the filters are why none shows.
        return (
            f"no signal passes the filters · {len(tracker.history):,} signals held · lower "
            "the minimum strength or volume, or widen the kinds, side, timeframes or contracts"
        )

    def _show_record(self) -> None:
        """The research record of the selected signal (the newest shown until one is clicked)."""
        if not self.research_dir:
            return
        signal = self.selected
        tracker = self.tracker
        if signal is None and len(self.table.value) and tracker is not None:
            newest = tracker.signal(int(self.table.value["seq"].max()))
            signal = None if newest is None else newest.to_dict()
        if signal is None:
            self.record.object = self._note("the record of a signal shows here")
            return
        key = (self.research_dir, signal["symbol"], signal["timeframe"],
               signal["kind"], signal["side"])  # fmt: skip
        future = record_of(*key[:3])
        if not future.done():
            if key != self._record_shown[0]:  # a re-read of the record shown keeps it meanwhile
                self.record.object = self._note(f"reading the record of {signal['symbol']} …")
            return
        if (key, future) != self._record_shown:
            self._record_shown = (key, future)
            self.record.object = self._record_html(key, future)

    @staticmethod
    def _note(text: str) -> str:
        return f'<div style="color:{MUTED}">{html.escape(text)}</div>'

    def _record_html(self, key: tuple, future: Future) -> str:
        out_dir, symbol, timeframe, kind, side = key
        name = f"{symbol} · {timeframe} · {KIND_LABELS.get(kind, kind)} {side.upper()}"
        try:
            record = future.result()
        except ImportError:
            return self._note("no record: this version's pipelines.research has no signal_record")
        except Exception as exc:  # an unreadable directory is said, not raised
            log.warning("signal record of %s in %s: %r", symbol, out_dir, exc)
            return self._note(f"no record: {type(exc).__name__}: {exc}")
        match = record
        for column, value in zip(_RECORD_KEYS, (symbol, timeframe, kind, side), strict=True):
            if column in match:
                match = match[(match[column] == value).to_numpy()]
        if len(match) == 0:
            return self._note(f"{name}: no record in {out_dir}")
        return record_html(name, match.iloc[0])
