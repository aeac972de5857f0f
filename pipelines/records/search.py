"""Binary search on one field of a structured array (a column of trade records)."""

from __future__ import annotations

import bisect
from typing import Literal

import numpy as np


def sorted_position(column: np.ndarray, value: int, side: Literal["left", "right"] = "left") -> int:
    """`np.searchsorted(column, value, side)` for a sorted field of a structured array.

    numpy copies a strided column (`records["time"]`) to a contiguous one before searching: a
    millisecond per 200,000 trades, paid on every read of a time range. Bisecting the view
    reads about twenty elements instead.
    """
    search = bisect.bisect_left if side == "left" else bisect.bisect_right
    return search(column, value)
