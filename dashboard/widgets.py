"""Pickers whose choice reaches the server at once.

Panel holds every change coming from the browser for 50 ms (`Reactive._debounce`) so that a
burst of them, e.g. typing, is handled once. A pick from a list or a button group is one change;
waiting only delays what the trader asked for (a new footprint bin is drawn 50 ms later). These
subclasses put the picked value on Panel's priority path (`_priority_changes`, the hook its
Tabulator uses for edits), which schedules it on the next turn of the server's loop.
"""

from __future__ import annotations

from typing import ClassVar

import panel as pn


class Select(pn.widgets.Select):
    _priority_changes: ClassVar[list[str]] = ["value"]


class RadioButtonGroup(pn.widgets.RadioButtonGroup):
    _priority_changes: ClassVar[list[str]] = ["active"]  # the Bokeh model's property


class CheckButtonGroup(pn.widgets.CheckButtonGroup):
    _priority_changes: ClassVar[list[str]] = ["active"]


def symbol_input(view: object) -> pn.widgets.AutocompleteInput:
    """A contract search box bound both ways to `view.symbol` (options: set by the view)."""
    box = pn.widgets.AutocompleteInput(
        value=view.symbol, options=[view.symbol], case_sensitive=False, search_strategy="includes",
        restrict=True, min_characters=1, placeholder="symbol", width=150, margin=(2, 6),
    )  # fmt: skip
    box.link(view, value="symbol", bidirectional=True)
    return box
