"""update_table sends nothing for an unchanged table, a patch of the changed cells, or the
new table when its rows differ; what the table holds afterwards is the frame given."""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn

from dashboard.tables import update_table


def test_only_changes_are_sent() -> None:
    frame = pd.DataFrame({"symbol": ["A", "B", "C"], "x": [1.0, np.nan, 3.0]})
    table = pn.widgets.Tabulator(frame.copy())
    sent: list[dict] = []
    original = table.patch
    table.patch = lambda patch, **kw: (sent.append(patch), original(patch, **kw))[1]
    assert update_table(table, frame.copy()) == "none"  # NaN equals NaN here
    changed = frame.assign(x=[1.0, 2.0, 3.0])
    assert update_table(table, changed) == "patch"
    assert sent == [{"x": [(1, 2.0)]}]
    pd.testing.assert_frame_equal(table.value, changed)
    longer = pd.concat([changed, pd.DataFrame({"symbol": ["D"], "x": [4.0]})], ignore_index=True)
    assert update_table(table, longer) == "value"
    pd.testing.assert_frame_equal(table.value, longer)
