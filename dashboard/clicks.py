"""Clicks on live tables, named by what the trader saw.

Panel's `Tabulator.on_click` names the clicked row by its position and reads that position in
the server's current table. A ranking re-sorted every few seconds can reach the server before
the browser: a click made in between names the contract now in that row, not the one clicked.
Here the browser reads the value from its own copy of the table and sends it on a hidden widget.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import panel as pn

# Runs in the browser on Tabulator's cell-click event: `cb_obj.row` indexes the table's data as
# the browser holds it. The click count makes a second click on the same row a new value.
_SEND_JS = """
const value = source.source.data[COLUMN][cb_obj.row]
if (value !== undefined) {
  const count = Number(sink.value.split("\\n")[1] || 0) + 1
  sink.value = String(value) + "\\n" + count
}
"""


def on_shown_click(
    tables: list[pn.widgets.Tabulator], column: str, callback: Callable[[str], None]
) -> pn.widgets.TextInput:
    """Call `callback(value)` with `column`'s value in the row a trader clicks in any of `tables`.

    Returns the hidden widget that carries the clicks: place it in the same layout as `tables`."""
    sink = pn.widgets.TextInput(value="", visible=False, margin=0)
    code = _SEND_JS.replace("COLUMN", json.dumps(column))
    for table in tables:
        table.jscallback(args={"sink": sink}, **{"event:cell-click": code})
    sink.param.watch(lambda event: callback(event.new.split("\n")[0]), "value")
    return sink
