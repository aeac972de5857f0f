"""sorted_position finds what numpy's searchsorted finds, on a strided field of trade records."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from pipelines.records.dtypes import TRADE_DTYPE
from pipelines.records.search import sorted_position


@given(
    times=st.lists(st.integers(0, 50), max_size=60),
    value=st.integers(-5, 55),
    side=st.sampled_from(["left", "right"]),
)
def test_matches_searchsorted_on_a_field(times: list[int], value: int, side: str) -> None:
    records = np.zeros(len(times), dtype=TRADE_DTYPE)
    records["time"] = sorted(times)  # repeated times included: a millisecond of many trades
    column = records["time"]
    assert len(times) < 2 or not column.flags.c_contiguous  # the case the helper is for
    expected = int(np.searchsorted(np.ascontiguousarray(column), value, side=side))
    assert sorted_position(column, value, side) == expected
