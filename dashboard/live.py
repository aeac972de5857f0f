"""Base of every live view: per-session periodic refreshes that stop while the view is hidden.

A view pulls snapshots from the shared engine; it never subscribes to it, so a slow browser
costs only its own session. Each schedule is a method and a period; every call runs under
`pn.io.hold()` so the browser gets one message per refresh.
"""

from __future__ import annotations

import logging
import math
import time

import holoviews as hv
import panel as pn
import param
from panel.io.callbacks import PeriodicCallback

from pipelines.engine.availability import feed_reason
from pipelines.engine.service import Engine

log = logging.getLogger(__name__)

# A chart of minutes redraws its live minute at most this often (a new minute at once): the
# redraw, not the data, is most of what a session costs the server.
LIVE_CHART_S = 10.0


class LiveMinuteLimit:
    """When a chart of minutes is due a redraw: a new shape (a new minute, row, span or floor)
    at once, new values in its live minute at most every LIVE_CHART_S.

    `again_after_new_shape`: also redraw on the call after a new shape, changed or not (for a
    chart whose first draw of a new shape can come out wrong, see ImbalanceView).
    """

    def __init__(self, shape: object = None, *, again_after_new_shape: bool = False) -> None:
        self._shape = shape
        self._drawn_at = -math.inf
        self._again_after_new_shape = again_after_new_shape
        self._again = False

    def due(self, shape: object, changed: bool) -> bool:
        """True (and counted as drawn now) when a chart of this `shape`, whose values
        `changed` since the last draw, should be redrawn."""
        now = time.monotonic()
        new_shape = shape != self._shape
        if not (new_shape or self._again or (changed and now - self._drawn_at >= LIVE_CHART_S)):
            return False
        self._again = new_shape and self._again_after_new_shape
        self._shape, self._drawn_at = shape, now
        return True


class LiveView(pn.viewable.Viewer):
    engine = param.ClassSelector(
        class_=Engine, doc="The Engine to read (default: this process's shared engine)."
    )
    active = param.Boolean(default=True, doc="Refresh while True; a hidden tab sets it False.")

    # (method name, period in ms) of the refreshes; subclasses set it, and define `_layout()`
    # returning the view's Panel object (built once, on first display).
    _schedules: tuple[tuple[str, int], ...] = ()

    def __init__(self, **params: object) -> None:
        if params.get("engine") is None:
            from dashboard.runtime import get_engine

            params["engine"] = get_engine()
        if "bokeh" not in hv.Store.renderers:
            hv.extension("bokeh", logo=False)  # charts need a backend, also when embedded
        super().__init__(**params)
        self._callbacks: list = []
        self._errors = 0

    def _run(self, name: str) -> None:
        try:
            with pn.io.hold():
                getattr(self, name)()
        except Exception:  # a refresh that fails must not stop the next one
            self._errors += 1
            if self._errors <= 5 or self._errors % 100 == 0:
                log.exception("%s.%s failed (%d so far)", type(self).__name__, name, self._errors)

    def empty_reason(self, idle: str) -> str:
        """Why a view shows nothing: the feed's reason while it is down, else `idle`."""
        return feed_reason(self.engine.status()) or idle

    def refresh_all(self) -> None:
        """Run every refresh once now (also what a tab does when it becomes visible)."""
        for name, _ in self._schedules:
            self._run(name)

    def _start_callbacks(self) -> None:
        if self._callbacks or pn.state.curdoc is None:
            return
        for name, period in self._schedules:
            # In the background: a foreground refresh marks the server busy (pn.state.busy),
            # and every session's busy indicator is then updated, twice per refresh of any
            # session (a fifth of the server's time with four sessions open).
            cb = PeriodicCallback(
                callback=lambda name=name: self._run(name), period=period, background=True
            )
            if self.active:
                cb.start()
            self._callbacks.append(cb)

    @param.depends("active", watch=True)
    def _on_active(self) -> None:
        if self.active:
            self.refresh_all()
        for cb in self._callbacks:
            if self.active and not cb.running:
                cb.start()
            elif not self.active and cb.running:
                cb.stop()

    def __panel__(self) -> pn.viewable.Viewable:
        if not hasattr(self, "_panel"):
            self._panel = self._layout()
            self.refresh_all()
        self._start_callbacks()
        return self._panel
