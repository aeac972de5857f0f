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
