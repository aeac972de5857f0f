"""LiveMinuteLimit: a new shape at once, new values at most every LIVE_CHART_S, and (when asked)
one more draw after a new shape."""

from __future__ import annotations

from dashboard import live
from dashboard.live import LIVE_CHART_S, LiveMinuteLimit


def test_new_shapes_at_once_new_values_at_most_every_limit(monkeypatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(live.time, "monotonic", lambda: clock[0])
    limit = LiveMinuteLimit(shape=())
    assert not limit.due((), changed=False)  # the initial shape, nothing new
    assert limit.due((1,), changed=True)  # a new minute
    clock[0] += 1
    assert not limit.due((1,), changed=True)  # new values, too soon
    clock[0] += LIVE_CHART_S
    assert not limit.due((1,), changed=False)  # time enough, nothing new
    assert limit.due((1,), changed=True)
    assert not limit.due((1,), changed=True)  # counted as drawn just now
    assert limit.due((2,), changed=False)  # a new shape, changed or not


def test_again_after_a_new_shape(monkeypatch) -> None:
    monkeypatch.setattr(live.time, "monotonic", lambda: 5.0)
    limit = LiveMinuteLimit(again_after_new_shape=True)
    assert limit.due("a", changed=True)
    assert limit.due("a", changed=False)  # once more after the new shape
    assert not limit.due("a", changed=False)
    assert not limit.due("a", changed=True)  # then the time limit again
