"""Clean stops for the long-running commands: SIGTERM does what Ctrl-C does.

A service manager (systemd, Docker, Kubernetes) stops a process with SIGTERM, a terminal with
SIGINT; both must reach the same path: stop taking work, flush what is held (the store writer,
the stand-in's ground-truth file), close and exit 0. A second signal means "now": the process
exits at once, without flushing. Used by `simulate`, `ingest`, `serve` and `demo` alike, so it
lives beside `pipelines/cli.py`, in no layer (the stand-in may import it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable

log = logging.getLogger("orderflow")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_on_signals(loop: asyncio.AbstractEventLoop, on_stop: Callable[[], object]) -> None:
    """On the first SIGINT or SIGTERM call `on_stop` (on `loop`); on a second one exit at once."""
    received: list[int] = []

    def handle(signum: int) -> None:
        name = signal.Signals(signum).name
        if received:
            log.warning("%s again: stopping at once, without flushing", name)
            os._exit(128 + signum)
        received.append(signum)
        log.info("%s: stopping cleanly (send it again to stop at once)", name)
        on_stop()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, handle, sig)
