"""The settled clock closing quiet contracts' minutes: the slowest live socket's event time."""

from __future__ import annotations

import time

from pipelines.engine.connection import StreamConnection, event_time
from pipelines.engine.inbox import FrameInbox
from pipelines.engine.streams import StreamSet


def test_event_time_is_read_from_the_frame_head() -> None:
    frame = '{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1791234567890,"a":5}}'
    assert event_time(frame) == 1791234567890
    assert event_time('{"result":null,"id":1}') == 0  # a control answer has none
    assert event_time('{"data":{"E":12x}}') == 0  # malformed: no clock, no crash
    assert event_time(b'{"E":1791234567890}') == 0  # binary frames are not read


def connection(name: str, event_ms: int, frame_age_s: float) -> StreamConnection:
    conn = StreamConnection(name, "ws://127.0.0.1:1", "/market", [], FrameInbox())
    conn.newest_event_ms = event_ms
    conn._counters.last_frame = time.monotonic() - frame_age_s
    return conn


def test_the_slowest_live_socket_sets_the_clock() -> None:
    streams = StreamSet("ws://127.0.0.1:1", FrameInbox())
    assert streams.settled_ms() == 0  # no socket yet
    streams.connections = [
        connection("fast", 1_000_900, 0.01),
        connection("lagging", 1_000_300, 0.05),  # live, 600 ms behind: it holds the clock
        connection("quiet", 990_000, 5.0),  # nothing for 5 s: it does not
    ]
    assert streams.settled_ms() == 1_000_300
    streams.connections[1]._counters.last_frame -= 10  # the laggard falls silent too
    assert streams.settled_ms() == 1_000_900
