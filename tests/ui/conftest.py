"""The dashboard served in this process on loopback, fed by the exchange stand-in, and a
headless Chromium (Debian's; Playwright cannot download its own here)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlparse

import panel as pn
import pytest

from dashboard import runtime

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# Page script: `views`, every Bokeh view of the page (a script's first lines).
ALL_VIEWS_JS = """
  const views = [];
  const walk = (v) => { views.push(v); for (const c of (v.child_views || [])) walk(c); };
  for (const root of Object.values(Bokeh.index)) walk(root);
"""
# Chromium's software GL reports these on canvas reads; they are not page errors.
IGNORED_CONSOLE = ("GL Driver Message", "GPU stall")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, url: str, rt: runtime.Runtime) -> None:
        self.url = url
        self.runtime = rt

    @property
    def engine(self):
        return self.runtime.engine

    def on_loop(self, fn: Callable[[], object]) -> object:
        """Run `fn` on the engine's loop (the server thread), so reads see a consistent state."""

        async def call() -> object:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.runtime.loop).result(30)


@contextlib.contextmanager
def serving(rt: runtime.Runtime) -> Iterator[tuple[str, object]]:
    """The app of one runtime served on loopback, its engine started on the server's loop;
    yields (url, server), and stops both after."""
    from dashboard.app import create_app

    port = free_port()
    server = pn.serve(
        {"/": lambda: create_app(rt.engine)}, address="127.0.0.1", port=port, show=False,
        threaded=True, websocket_origin=[f"127.0.0.1:{port}"],
    )  # fmt: skip
    server.asyncio_loop.call_soon_threadsafe(rt.start)
    deadline = time.monotonic() + 30
    while True:  # the server thread listens a moment after pn.serve returns
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the server did not listen"
            time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/", server
    finally:
        rt.stop()
        server.stop()


@contextlib.contextmanager
def market_of(contracts: int, **settings: object) -> Iterator[tuple[str, runtime.Runtime, object]]:
    """The app on its own demo engine of `contracts` at 1,000 trades/s, once it is live;
    yields (url, runtime, server)."""
    rt = runtime.Runtime(
        runtime.RuntimeSettings(
            demo=True, demo_symbols=contracts, demo_rate=1000, demo_seed=5, **settings
        )
    )
    with serving(rt) as (url, server):
        deadline = time.monotonic() + 120
        while not (rt.engine.status().connected and len(rt.engine.buffer) > 5000):
            if time.monotonic() > deadline:
                pytest.fail(f"the {contracts}-contract engine did not come up within 120 s")
            time.sleep(0.5)
        yield url, rt, server


@pytest.fixture(scope="session")
def served():
    from dashboard.app import create_app

    runtime.configure(
        # No generated past: these tests read the live flow (test_history_load.py has a past).
        runtime.RuntimeSettings(
            demo=True, demo_symbols=30, demo_rate=600, demo_seed=3, demo_history_s=0
        )
    )
    port = free_port()
    server = pn.serve(
        {"/": create_app}, address="127.0.0.1", port=port, show=False, threaded=True,
        websocket_origin=[f"127.0.0.1:{port}"],
    )  # fmt: skip
    # Start the engine on the server's loop now, not at the first page.
    server.asyncio_loop.call_soon_threadsafe(runtime.get_runtime)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rt = runtime._RUNTIME
        if rt is not None and rt.engine.status().connected and len(rt.engine.buffer):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the demo engine did not come up within 60 s")
    yield Served(f"http://127.0.0.1:{port}/", runtime.get_runtime())
    runtime.shutdown()
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageLog:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []

    def foreign(self) -> list[str]:
        return [
            u
            for u in self.requests
            if urlparse(u).hostname not in LOCAL_HOSTS and not u.startswith(("data:", "blob:"))
        ]


@pytest.fixture
def page(browser, served):
    """A fresh page; after the test: no request left loopback, no error in the console."""
    context = browser.new_context(viewport={"width": 1500, "height": 850})
    page = context.new_page()
    log = PageLog()
    page.on("request", lambda r: log.requests.append(r.url))
    page.on("pageerror", lambda e: log.errors.append(f"pageerror: {e}"))
    page.on(
        "console",
        lambda m: (
            log.errors.append(m.text)
            if m.type == "error" and not any(s in m.text for s in IGNORED_CONSOLE)
            else None
        ),
    )
    page.log = log
    yield page
    context.close()
    assert log.foreign() == [], f"requests left loopback: {log.foreign()[:5]}"
    assert log.errors == [], f"browser console errors: {log.errors[:5]}"
