"""Table updates that send only what changed: nothing, a patch of the changed cells, or (when
the rows or columns differ) the new table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn


def update_table(table: pn.widgets.Tabulator, frame: pd.DataFrame) -> str:
    """Show `frame` in `table`; returns what was sent: "none", "patch" or "value"."""
    old = table.value
    if (
        old is None
        or list(old.columns) != list(frame.columns)
        or len(old) != len(frame)
        or not old.index.equals(frame.index)
    ):
        table.value = frame
        return "value"
    patch: dict[str, list[tuple[int, object]]] = {}
    for column in frame.columns:
        new, was = frame[column], old[column]
        changed = (new != was).to_numpy() & ~(new.isna() & was.isna()).to_numpy()
        if changed.any():
            rows = np.flatnonzero(changed)
            patch[column] = [(int(i), new.iloc[i]) for i in rows]
    if not patch:
        return "none"
    table.patch(patch, as_index=False)
    return "patch"
