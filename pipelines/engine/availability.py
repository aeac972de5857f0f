"""Why a live view has nothing to show: the feed's state in words, for empty states.

Views show their data when they have any; when they have none, they show the reason this module
gives (exchange unreachable, still connecting, store unavailable), so a dead exchange reads as
a named outage rather than a blank page.
"""

from __future__ import annotations

from pipelines.engine.status import EngineStatus


def feed_reason(status: EngineStatus) -> str:
    """'' while data flows; otherwise the reason in a short sentence (plain text)."""
    if status.connected and status.batches:
        return ""
    if status.connected:
        return "connected · waiting for the first trades"
    if status.last_error:
        return f"exchange unreachable · {status.last_error}"
    if status.running and status.connections_up:
        return "exchange partly reachable · waiting for data"
    return "connecting to the exchange"


def store_reason(db_path: str | None, store_open: bool) -> str:
    """'' when history can come from the store; otherwise why it cannot."""
    if not db_path:
        return "no store configured (history starts with this run)"
    if not store_open:
        return f"store unavailable · {db_path}"
    return ""
