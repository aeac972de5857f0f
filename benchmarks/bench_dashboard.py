"""The dashboard under browser sessions: big-order latency to the screen and server memory.

    python benchmarks/bench_dashboard.py [--rate 3000] [--symbols 600] [--seconds 60]

`orderflow serve --demo` runs in a subprocess (engine and stand-in in one server process); a
headless Chromium (Debian's, through Playwright) opens the app. For every big order that
appears in the screener, latency = the moment its row entered the page (a MutationObserver,
same machine clock) minus the order's trade time T (when the stand-in sent it, up to one 50 ms
generation step later, so the figure is an upper bound). Baseline: one session on the
screener; then four sessions, one per tab. Server RSS is sampled from /proc every second.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
from playwright.sync_api import sync_playwright

from benchmarks.common import free_port

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TABS = ("Screener", "Imbalance", "Footprint", "Liquidations")
# Panel renders inside shadow roots, out of a document-level MutationObserver's sight: poll the
# rows every 50 ms instead and stamp each new row text with the browser's clock.
OBSERVER = """() => {
  window.__seen = {};
  window.__since = Date.now();
  const rows = (root, out) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList.contains('tabulator-row')) out.push(el);
      if (el.shadowRoot) rows(el.shadowRoot, out);
    }
    return out;
  };
  setInterval(() => {
    const now = Date.now();
    for (const r of rows(document, [])) if (!(r.innerText in window.__seen)) window.__seen[r.innerText] = now;
  }, 50);
}"""
TIME = re.compile(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d)")


@contextlib.contextmanager
def server(rate: float, symbols: int) -> Iterator[tuple[str, int]]:
    port = free_port()
    cmd = [sys.executable, "-m", "pipelines.cli", "--log-level", "WARNING", "serve", "--demo",
           "--port", str(port), "--demo-rate", str(rate), "--demo-symbols", str(symbols)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # "orderflow dashboard: http://..."
        yield f"http://127.0.0.1:{port}/", proc.pid
    finally:
        proc.terminate()
        proc.wait(15)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS"))
    return kb / 1024


def trade_time_ms(row_text: str, seen_ms: int) -> int | None:
    match = TIME.search(row_text)
    if match is None:
        return None
    h, m, s, ms = (int(g) for g in match.groups())
    day = dt.datetime.fromtimestamp(seen_ms / 1000, dt.UTC).replace(
        hour=h, minute=m, second=s, microsecond=ms * 1000
    )
    return int(day.timestamp() * 1000)


def run(url: str, pid: int, sessions: int, seconds: float) -> tuple[np.ndarray, float, int]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        pages = []
        for tab in TABS[:sessions]:
            page = browser.new_page(viewport={"width": 1500, "height": 850})
            page.goto(url)
            page.locator(".bk-tab", has_text=tab).first.click()
            pages.append(page)
        screener = pages[0]
        screener.wait_for_timeout(8000)  # initial fill and ADV load are not latency
        screener.evaluate(OBSERVER)
        peak, start = 0.0, time.monotonic()
        while time.monotonic() - start < seconds:
            peak = max(peak, rss_mb(pid))
            screener.wait_for_timeout(1000)
        first_seen, since = screener.evaluate("[window.__seen, window.__since]")
        browser.close()
    latencies = [
        seen - t
        for text, seen in first_seen.items()
        if (t := trade_time_ms(text, seen)) is not None and t > since  # new since watching
    ]
    return np.array(latencies, dtype=float), peak, len(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=3000)
    parser.add_argument("--symbols", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    print(
        f"stand-in {args.symbols} contracts at {args.rate:,.0f} trades/s, {args.seconds:.0f} s per run"
    )
    results = {}
    for sessions in (1, 4):
        with server(args.rate, args.symbols) as (url, pid):
            lat, peak, n = run(url, pid, sessions, args.seconds)
        p50, p95, top = np.percentile(lat, [50, 95, 100]) if len(lat) else (np.nan,) * 3
        results[sessions] = p95
        print(f"{sessions} session(s): {n} new big orders, latency p50 {p50:.0f} ms, "
              f"p95 {p95:.0f} ms, max {top:.0f} ms; server RSS peak {peak:,.0f} MB")  # fmt: skip
    print(f"p95 four sessions / one session: {results[4] / results[1]:.2f}")


if __name__ == "__main__":
    main()
