"""The thin status line: connection state, contracts tracked, frames/s, lag, store, the minute
history still loading, UTC clock."""

from __future__ import annotations

import html
import time

import pandas as pd
import panel as pn
import param

from dashboard.live import LiveMinuteLimit, LiveView
from dashboard.theme import BUY, MONO, MUTED, NEUTRAL, SELL, TEXT
from pipelines.engine.status import EngineStatus

_CSS = f"""
.status {{ display: flex; gap: 14px; align-items: center; font-size: 12px; color: {MUTED};
          white-space: nowrap; font-family: {MONO}; }}
.status b {{ color: {TEXT}; font-weight: 500; }}
.status .dot {{ width: 9px; height: 9px; border-radius: 50%; display: inline-block;
               margin-right: 6px; vertical-align: middle; }}
.status .state {{ font-weight: 600; letter-spacing: .04em; }}
.breadth {{ font-size: 12px; white-space: nowrap; font-family: {MONO}; }}
.breadth b {{ color: {TEXT}; font-weight: 500; }}
.status .err {{ color: {SELL}; overflow: hidden; text-overflow: ellipsis; max-width: 40vw; }}
"""


def _num(value: float | None, fmt: str = ",.0f", unit: str = "") -> str:
    return "–" if value is None else f"{value:{fmt}}{unit}"


def store_line(status: EngineStatus) -> str:
    """ "store: disk full — 12,400 trades waiting" (empty while the store writes)."""
    if not status.store_fault:
        return ""
    waiting = f" — {status.store_waiting:,} trades waiting" if status.store_waiting else ""
    return f"store: {status.store_fault}{waiting}"


def status_html(status: EngineStatus, *, demo: bool = False, now_s: float | None = None) -> str:
    """The status line for one EngineStatus (pure, so it can be tested without a browser)."""
    if status.connected:
        colour, state = BUY, "LIVE"
    elif status.running and status.connections_up:
        colour, state = NEUTRAL, f"DEGRADED {status.connections_up}/{len(status.connections)}"
    elif status.running and not status.connections and not status.last_error:
        colour, state = NEUTRAL, "CONNECTING"  # a start that failed says DISCONNECTED and why
    else:
        colour, state = SELL, "DISCONNECTED"
    clock = time.strftime("%H:%M:%S", time.gmtime(time.time() if now_s is None else now_s))
    parts = [
        f'<span class="state" style="color:{colour}"><span class="dot" '
        f'style="background:{colour}"></span>{state}{" · DEMO" if demo else ""}</span>',
        f"<span><b>{status.symbols:,}</b> contracts</span>",
        f"<span><b>{_num(status.frames_per_s)}</b> frames/s</span>",
        f"<span><b>{_num(status.trades_per_s)}</b> trades/s</span>",
        f"<span>lag <b>{_num(status.lag_ms, ',.0f', ' ms')}</b></span>",
        f"<span>p99 <b>{_num(status.latency_p99_ms, ',.0f', ' ms')}</b></span>",
    ]
    if status.gaps_open:
        parts.append(f'<span style="color:{NEUTRAL}">backfilling {status.gaps_open:,} gaps</span>')
    warm = status.warmup
    if warm is not None and warm.contracts_total and not warm.complete:
        parts.append(
            f'<span class="warmup" style="color:{NEUTRAL}">minute history '
            f"<b>{warm.contracts_done:,}</b>/{warm.contracts_total:,}</span>"
        )
    if status.store_fault:
        parts.append(f'<span class="err store">{html.escape(store_line(status))}</span>')
    parts.append(f"<span><b>{clock}</b> UTC</span>")
    if status.last_error and not status.connected:
        parts.append(f'<span class="err">{html.escape(status.last_error)}</span>')
    return f'<div class="status" data-state="{state.split()[0].lower()}">{"".join(parts)}</div>'


def breadth_html(breadth: pd.DataFrame) -> str:
    """The last complete minute's market breadth; amber when it widened (pure, for tests)."""
    if len(breadth) < 2 or not breadth[["buyers", "sellers", "liquidating"]].to_numpy().any():
        return ""  # nothing traded yet: no line
    row = breadth.iloc[-2]
    colour = NEUTRAL if row["widening"] else MUTED
    flag = " · WIDENING" if row["widening"] else ""
    return (
        f'<div class="breadth" data-widening="{int(bool(row["widening"]))}" '
        f'style="color:{colour}">last min <b>{int(row["buyers"]):,}</b>&nbsp;buy · '
        f"<b>{int(row['sellers']):,}</b>&nbsp;sell · <b>{int(row['big_orders']):,}</b>&nbsp;big · "
        f"liq <b>{row['liquidated']:,.0f}</b>&nbsp;${flag}</div>"
    )


class HeaderView(LiveView):
    """One line of engine health; red dot and text when the feed is down."""

    demo = param.Boolean(default=False, doc="Mark the line as demo data.")

    _schedules = (("refresh", 1000),)

    def _layout(self) -> pn.viewable.Viewable:
        self._breadth_limit = LiveMinuteLimit()  # shape: the minute
        self._pane = pn.pane.HTML(
            "", stylesheets=[_CSS], margin=(0, 6), sizing_mode="stretch_width"
        )
        self._breadth = pn.pane.HTML("", stylesheets=[_CSS], margin=(0, 6))
        return pn.Row(self._pane, self._breadth, sizing_mode="stretch_width", margin=0)

    def refresh(self) -> None:
        self._pane.object = status_html(self.engine.status(), demo=self.demo)
        # The line shows the last complete minute: read again when a minute closes, and every
        # LIVE_CHART_S for what arrives late (liquidations, big orders closing).
        now = time.time()
        if not self._breadth_limit.due(int(now // 60), changed=True):
            return
        breadth = breadth_html(self.engine.analytics.breadth(int(now * 1000), 30))
        if breadth != self._breadth.object:
            self._breadth.object = breadth
