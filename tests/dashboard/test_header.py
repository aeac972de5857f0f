from __future__ import annotations

from dashboard.header import status_html
from dashboard.theme import BUY, SELL
from pipelines.engine.connection import ConnectionStatus
from pipelines.engine.status import EngineStatus


def conn(up: bool) -> ConnectionStatus:
    import dataclasses

    fields = {f.name: f.default for f in dataclasses.fields(ConnectionStatus)}
    fields.update(connected=up)
    return ConnectionStatus(
        **{k: (0 if v is dataclasses.MISSING else v) for k, v in fields.items()}
    )


def test_live_and_disconnected_states() -> None:
    live = EngineStatus(
        running=True,
        symbols=642,
        streams=1300,
        connections=[conn(True)] * 2,
        connections_up=2,
        frames_per_s=1234.5,
        lag_ms=80,
    )
    text = status_html(live, now_s=0)
    assert 'data-state="live"' in text and BUY in text
    assert "642" in text and "1,234" in text and "80 ms" in text and "00:00:00" in text
    down = EngineStatus(
        running=True,
        symbols=642,
        streams=1300,
        connections=[conn(False)] * 2,
        connections_up=0,
        last_error="socket closed",
    )
    text = status_html(down, now_s=0)
    assert 'data-state="disconnected"' in text and SELL in text and "socket closed" in text
    half = EngineStatus(
        running=True, symbols=1, streams=2, connections=[conn(True), conn(False)], connections_up=1
    )
    assert "DEGRADED 1/2" in status_html(half)


def test_breadth_line_shows_the_last_complete_minute_and_widening() -> None:
    import pandas as pd

    from dashboard.header import breadth_html

    frame = pd.DataFrame(
        {
            "minute": [0, 60_000, 120_000], "buyers": [5, 312, 1], "sellers": [7, 201, 1],
            "big_orders": [0, 14, 0], "sweeping": [0, 9, 0], "liquidated": [0.0, 2_300_000.0, 0.0],
            "liquidating": [0, 30, 0], "widening": [False, True, False],
        }
    )  # fmt: skip
    text = breadth_html(frame)
    assert "<b>312</b>&nbsp;buy" in text and "<b>201</b>&nbsp;sell" in text
    assert "<b>14</b>&nbsp;big" in text and "2,300,000" in text and "WIDENING" in text
    assert "WIDENING" not in breadth_html(frame.assign(widening=False))
    assert breadth_html(frame.iloc[:1]) == ""


def test_the_minute_history_shows_while_it_loads() -> None:
    from pipelines.engine.warmup import WarmupProgress

    status = EngineStatus(running=True, symbols=600, streams=1200)
    status.warmup = WarmupProgress(contracts_done=212, contracts_total=600)
    assert "minute history <b>212</b>/600" in status_html(status, now_s=0)
    status.warmup = WarmupProgress(contracts_done=600, contracts_total=600)
    assert "minute history" not in status_html(status, now_s=0)
    status.warmup = None  # the engine runs without it
    assert "minute history" not in status_html(status, now_s=0)
