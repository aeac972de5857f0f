"""Server CPU at 600 contracts and 1,000 trades/s: the engine alone, the served app idle, and
the served app with four browser sessions, one per tab.

    python -m benchmarks.bench_cpu [--symbols 600] [--rate 1000] [--seconds 30] [--profile F]

The stand-in runs in a process of its own (it is the exchange). CPU is the process's user +
system time over `--seconds` after a warm-up, as % of one core (from /proc). The engine alone
is the engine as the served app runs it (no store) in a process of its own; `orderflow ingest`,
the same engine writing every trade to a store (in a temporary directory), is shown beside it;
the app is `panel serve dashboard/app.py` (no store) on the same stand-in, first with no
browser (the same run's baseline), then with four sessions. With
`--profile F` the four-session server runs under cProfile and the top entries are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from playwright.sync_api import sync_playwright

from benchmarks.common import free_port, standin_process

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TABS = ("Screener", "Imbalance", "Footprint", "Liquidations")
TICKS = os.sysconf("SC_CLK_TCK")
# The served app's engine, without the UI: argv[1:] are the REST and websocket URLs.
ENGINE_ALONE = """
import asyncio, sys
from pipelines.engine.service import Engine, EngineConfig

async def main():
    engine = Engine(EngineConfig(rest_url=sys.argv[1], ws_url=sys.argv[2]))
    await engine.start()
    await asyncio.Event().wait()

asyncio.run(main())
"""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def cpu_percent(pid: int, seconds: float) -> float:
    start, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (cpu_seconds(pid) - start) / (time.monotonic() - t0)


@contextlib.contextmanager
def process(cmd: list[str], env: dict[str, str]) -> Iterator[int]:
    proc = subprocess.Popen(
        cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGINT)  # lets cProfile write its file
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_port(port: int, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=600)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=45.0)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--skip-engine", action="store_true", help="only the served app")
    parser.add_argument("--engine-only", action="store_true", help="only `orderflow ingest`")
    args = parser.parse_args()
    py = [sys.executable]
    with standin_process(symbols=args.symbols, rate=args.rate) as (rest, ws):
        env = {"ORDERFLOW_REST_URL": rest, "ORDERFLOW_WS_URL": ws}
        if not args.skip_engine:
            with process([*py, "-c", ENGINE_ALONE, rest, ws], {}) as pid:
                time.sleep(args.warmup)
                engine = cpu_percent(pid, args.seconds)
            print(f"engine alone (no store): {engine:.1f} % of a core", flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                ingest = [*py, "-m", "pipelines.cli", "--log-level", "WARNING", "ingest",
                          "--rest-url", rest, "--ws-url", ws, "--db", f"{tmp}/store.db"]  # fmt: skip
                with process(ingest, {}) as pid:
                    time.sleep(args.warmup)
                    stored = cpu_percent(pid, args.seconds)
            print(f"orderflow ingest (engine + store): {stored:.1f} % of a core", flush=True)
        if args.engine_only:
            print(f"load average: {os.getloadavg()}")
            return

        port = free_port()
        # `panel serve` of the app takes the stand-in's URLs from the environment.
        serve = ["-m", "panel", "serve", "dashboard/app.py", "--address", "127.0.0.1",
                 "--port", str(port), f"--allow-websocket-origin=127.0.0.1:{port}"]  # fmt: skip
        profiled = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        with process([*py, *profiled, *serve], env) as pid:
            wait_port(port)
            with sync_playwright() as p:
                # The engine starts with the first session (the served script asks for it).
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                first = browser.new_page(viewport={"width": 1500, "height": 850})
                first.goto(f"http://127.0.0.1:{port}/")
                first.close()
                time.sleep(args.warmup)
                idle = cpu_percent(pid, args.seconds)
                print(f"served app, no browser: {idle:.1f} % of a core", flush=True)
                pages = []
                for tab in TABS:
                    page = browser.new_page(viewport={"width": 1500, "height": 850})
                    page.goto(f"http://127.0.0.1:{port}/")
                    page.locator(".bk-tab", has_text=tab).first.click(timeout=120_000)
                    pages.append(page)
                time.sleep(15)
                busy = cpu_percent(pid, args.seconds)
                print(
                    f"served app, four sessions (one per tab): {busy:.1f} % of a core "
                    f"({busy / max(idle, 0.1):.2f}× the no-browser baseline)",
                    flush=True,
                )
                browser.close()
        print(f"load average: {os.getloadavg()}")
    if args.profile:
        stats = pstats.Stats(args.profile)
        stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
