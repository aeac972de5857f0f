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
            patch[column] = _runs(np.flatnonzero(changed), new)
    if not patch:
        return "none"
    table.patch(patch, as_index=False)
    return "patch"


def _runs(rows: np.ndarray, values: pd.Series) -> list[tuple[int | slice, object]]:
    """The changed `rows` as (row, value), and consecutive ones as (slice, values): Tabulator
    writes each patch entry into its frame with one pandas assignment, which costs far more
    per cell than sending it."""
    out: list[tuple[int | slice, object]] = []
    for run in np.split(rows, np.flatnonzero(np.diff(rows) != 1) + 1):
        first, last = int(run[0]), int(run[-1])
        if first == last:
            out.append((first, values.iloc[first]))
        else:
            out.append((slice(first, last + 1), values.iloc[first : last + 1].tolist()))
    return out
