"""Starting the engine against an exchange that may not answer yet: one line, then back off.

A long-running command (ingest, serve, demo) must not die because the exchange, a proxy or the
network is down when it starts: each failed attempt is one line naming what could not be
reached, and the next one follows after a doubling delay (capped), until the engine starts or
the command is told to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pipelines.engine.rest import RestError
from pipelines.engine.service import Engine

log = logging.getLogger(__name__)


async def start_when_reachable(
    engine: Engine,
    stop: asyncio.Event | None = None,
    *,
    first_delay_s: float = 1.0,
    max_delay_s: float = 60.0,
) -> bool:
    """Start `engine`, retrying while REST cannot be reached; False when `stop` came first."""
    delay = first_delay_s
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            await engine.start()
            return True
        except RestError as exc:
            engine.last_error = f"cannot reach {engine.config.rest_url}: {exc}"
            log.warning("%s; retrying in %.0f s", engine.last_error, delay)
            log.debug("engine start failed", exc_info=exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(2 * delay, max_delay_s)
    return False
