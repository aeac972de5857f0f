"""A calm empty state: one line saying why a view has nothing to show.

The text is the engine's reason (pipelines/engine/availability.py) or the view's own ("no
liquidations yet"); it may quote an exchange error, so it is escaped, never rendered as markup.
"""

from __future__ import annotations

import html

import panel as pn

from dashboard.theme import MONO, MUTED

_CSS = f"""
.empty-state {{ color: {MUTED}; font-family: {MONO}; font-size: 13px; padding: 24px 16px;
               text-align: center; overflow-wrap: anywhere; }}
"""


class EmptyState(pn.pane.HTML):
    """Hidden while the view has data; `show(reason)` names why it has none."""

    def __init__(self, view: str, **params: object) -> None:
        params.setdefault("sizing_mode", "stretch_width")
        super().__init__("", visible=False, stylesheets=[_CSS], margin=0, **params)
        self._view = view
        self._reason: str | None = None

    def show(self, reason: str) -> None:
        if reason == self._reason and self.visible:
            return  # unchanged: send nothing
        self._reason = reason
        self.object = (
            f'<div class="empty-state" data-view="{self._view}">{html.escape(reason)}</div>'
        )
        self.visible = True

    def hide(self) -> None:
        if self.visible:
            self.visible = False
            self._reason = None
