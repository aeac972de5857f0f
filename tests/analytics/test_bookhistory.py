"""Book seconds: change sets rebuild every state exactly, keyframes on whole minutes and after
a break, and the raster keeps the maximum or the last state of a bucket, gaps uncovered."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.analytics.bookhistory import (
    BookSecondsRecorder,
    apply_side_changes,
    book_raster,
    replay,
    side_changes,
)
from pipelines.analytics.localbook import BookLevels


def _side(levels: dict[int, int]) -> np.ndarray:
    return np.array(sorted(levels.items()), np.int64).reshape(-1, 2)


sides = st.dictionaries(st.integers(0, 50), st.integers(1, 9), max_size=20)


@settings(max_examples=200, deadline=None)
@given(sides, sides)
def test_changes_applied_give_the_new_side(before, after):
    changes = side_changes(_side(before), _side(after))
    assert apply_side_changes(_side(before), changes).tolist() == _side(after).tolist()
    assert len(changes) == len({p for p in before | after if before.get(p) != after.get(p)})


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(sides, sides), min_size=1, max_size=150))
def test_recorded_seconds_replay_to_every_state(books):
    recorder = BookSecondsRecorder(keyframe_s=60)
    start = 1_700_000_000_000 + 17_000  # not on a minute
    states = [(start + i * 1000, BookLevels(_side(b), _side(a), (0, 60)))
              for i, (b, a) in enumerate(books)]  # fmt: skip
    seconds = [recorder.record(t, levels) for t, levels in states]
    assert seconds[0].keyframe
    assert [s.time for s in seconds if s.keyframe][1:] == [
        t for t, _ in states[1:] if t % 60_000 == 0
    ]
    got = list(replay(seconds))
    assert [t for t, _ in got] == [t for t, _ in states]
    for (_, a), (_, b) in zip(got, states, strict=True):
        assert a.bids.tolist() == b.bids.tolist() and a.asks.tolist() == b.asks.tolist()


def test_a_break_makes_the_next_second_a_keyframe():
    recorder = BookSecondsRecorder()
    levels = BookLevels(_side({1: 1}), _side({3: 1}), (0, 9))
    assert recorder.record(1_000, levels).keyframe
    assert not recorder.record(2_000, levels).keyframe
    recorder.reset()
    assert recorder.record(3_000, levels).keyframe
    assert recorder.record(5_000, levels).keyframe  # a second is missing before it


def test_raster_keeps_max_or_last_and_leaves_gaps_uncovered():
    states = [
        (1_000, BookLevels(_side({10: 5, 11: 1}), _side({12: 2}), (0, 20))),
        (2_000, BookLevels(_side({10: 1, 11: 1}), _side({12: 7, 15: 1}), (0, 20))),
        (5_000, BookLevels(_side({10: 1}), _side({13: 2}), (0, 20))),
    ]
    top = book_raster(states, 0, 6_000, 2_000, 10, 15, ticks_per_row=2, keep="max")
    assert top.times.tolist() == [0, 2_000, 4_000]
    assert top.covered.tolist() == [True, False, True]
    # rows of two ticks from 10: [10, 11], [12, 13], [14, 15]; second ends 1 s and 2 s share
    # bucket 0 (a state at t belongs to the bucket holding t - 1)
    assert top.bids.tolist() == [[6, 0, 0], [0, 0, 0], [1, 0, 0]]  # 5 + 1 beats 1 + 1
    assert top.asks.tolist() == [[0, 7, 1], [0, 0, 0], [0, 2, 0]]
    last = book_raster(states, 0, 6_000, 2_000, 10, 15, ticks_per_row=2, keep="last")
    assert last.bids.tolist() == [[2, 0, 0], [0, 0, 0], [1, 0, 0]]  # the bucket's last state
    assert last.asks.tolist()[0] == [0, 7, 1]
