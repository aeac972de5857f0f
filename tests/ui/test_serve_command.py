"""`orderflow serve`/`demo` as a trader runs them: other endpoints, an exposed bind behind
Panel's basic auth, and SIGTERM as a clean stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import free_port

pytestmark = pytest.mark.ui

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def orderflow(*args: str) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


def wait_for_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, "the server exited"
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "the server did not listen"
            time.sleep(0.2)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_serve_on_other_endpoints_shows_live_and_stops_on_sigterm(browser) -> None:
    with orderflow("simulate", "--port", "0", "--symbols", "10", "--rate", "200") as sim:
        urls = dict(re.findall(r"(rest|ws): (\S+)", sim.stdout.readline()))
        port = free_port()
        serve_args = ("serve", "--rest-url", urls["rest"], "--ws-url", urls["ws"], "--no-db",
                      "--port", str(port))  # fmt: skip
        with orderflow(*serve_args) as serve:
            wait_for_port(port, serve)
            page = browser.new_page()
            try:
                page.goto(f"http://127.0.0.1:{port}/")
                expect(page.locator(".status")).to_contain_text("LIVE", timeout=60_000)
                expect(page.locator(".status")).not_to_contain_text("DEMO")
            finally:
                page.close()
            serve.send_signal(signal.SIGTERM)
            assert serve.wait(60) == 0


def test_exposed_bind_with_basic_auth_refuses_strangers_and_admits_the_trader(browser) -> None:
    port = free_port()
    args = ("demo", "--address", "0.0.0.0", "--port", str(port), "--basic-auth", "s3cret",
            "--demo-symbols", "10", "--demo-rate", "200")  # fmt: skip
    with orderflow(*args) as serve:
        wait_for_port(port, serve)
        url = f"http://127.0.0.1:{port}/"
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(url, timeout=10)
        assert refused.value.code == 302 and "/login" in refused.value.headers["Location"]
        context = browser.new_context()
        page = context.new_page()
        try:
            page.goto(url)
            page.fill("input[name=username]", "trader")
            page.fill("input[name=password]", "wrong")
            page.click("button[type=submit]")
            expect(page.locator("body")).to_contain_text("Invalid username or password")
            page.fill("input[name=username]", "trader")
            page.fill("input[name=password]", "s3cret")
            page.click("button[type=submit]")
            expect(page.locator(".status")).to_contain_text("LIVE", timeout=60_000)
        finally:
            context.close()
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(60) == 0
