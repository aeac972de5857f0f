"""SequencedRing against a list that keeps everything."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.analytics.ring import SequencedRing

DTYPE = np.dtype([("time", "i8"), ("value", "f8")])


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 9),
    st.lists(st.one_of(st.integers(0, 12), st.tuples(st.just("drop"), st.integers(0, 60)))),
    st.integers(0, 80),
)
def test_ring_matches_a_list(capacity, operations, since):
    ring = SequencedRing(DTYPE, capacity)
    everything: list[tuple[int, int]] = []  # (seq, time)
    dropped_until = 0  # seq numbers at or below this were dropped by time
    for op in operations:
        if isinstance(op, tuple):
            cutoff = op[1]
            held = [(s, t) for s, t in everything[-capacity:] if s > dropped_until]
            for s, t in held:
                if t >= cutoff:
                    break
                dropped_until = s
            ring.drop_before("time", cutoff)
            continue
        start = len(everything)
        rows = np.zeros(op, DTYPE)
        rows["time"] = np.arange(start, start + op)
        everything += [(start + i + 1, start + i) for i in range(op)]
        assert ring.append(rows) == len(everything)
    held = [(s, t) for s, t in everything[-capacity:] if s > dropped_until]
    rows, seqs = ring.since(since)
    expected = [(s, t) for s, t in held if s > since]
    assert seqs.tolist() == [s for s, _ in expected]
    assert rows["time"].tolist() == [t for _, t in expected]
    assert len(ring) == len(held)


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity"):
        SequencedRing(DTYPE, 0)
