"""Helpers shared by the benchmark scripts: a stand-in exchange in a process of its own."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def standin_process(
    *, symbols: int, rate: float, seed: int = 1, extra: tuple[str, ...] = ()
) -> Iterator[tuple[str, str]]:
    """`orderflow simulate` in a subprocess (its own core); yields (rest_url, ws_url)."""
    port = free_port()
    cmd = [sys.executable, "-m", "pipelines.cli", "--log-level", "WARNING", "simulate",
           "--port", str(port), "--symbols", str(symbols), "--rate", str(rate), "--seed", str(seed),
           *extra]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the stand-in did not start")
        yield f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
