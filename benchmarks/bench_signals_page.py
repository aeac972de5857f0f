"""Bar close to the signal on the page: the Signals tab in a browser at 600 contracts.

    python -m benchmarks.bench_signals_page [--symbols 600] [--rate 1000] [--minutes 4]

The stand-in runs in its own process, the dashboard in another (`panel serve dashboard/app.py`
pointed at it), one headless Chromium session on the Signals tab at its default filters. A
script in the page looks at the table's data every 20 ms and stamps each new signal (by its
sequence number) with the browser's clock; its latency is that stamp minus its bar's close
(bar open + timeframe, the exchange's clock, which is this machine's). That includes the
engine's closing rule (a contract's bar closes at its next trade, a quiet one 2 s after the
bar's end), the view's refresh (500 ms) and the way to the page. The same run's baseline is a
second session on the Screener tab, stamped the same way: a big order's latency is its arrival
minus its trade time (the live path of the product's first view, which the signals' path adds
to a bar's close).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

from benchmarks.bench_cpu import CHROMIUM_ARGS, wait_port
from benchmarks.common import free_port, standin_process

ROOT = Path(__file__).resolve().parents[1]

# Stamps every row of the table with column `key` the page receives: {seq: [arrival, time]}.
STAMP_JS = """
(key) => {
  window.__arrivals = {};
  setInterval(() => {
    for (const doc of Bokeh.documents) for (const m of doc._all_models.values()) {
      const d = m.data;
      if (!d || d.seq === undefined || d[key] === undefined || d.time === undefined) continue;
      const now = Date.now();
      for (let i = 0; i < d.seq.length; i++) {
        if (!(d.seq[i] in window.__arrivals)) window.__arrivals[d.seq[i]] = [now, d.time[i]];
      }
    }
  }, 20);
}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=600)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--minutes", type=float, default=4.0, help="time on the Signals tab")
    args = parser.parse_args()
    with standin_process(symbols=args.symbols, rate=args.rate) as (rest, ws):
        port = free_port()
        env = {**os.environ, "ORDERFLOW_REST_URL": rest, "ORDERFLOW_WS_URL": ws}
        serve = subprocess.Popen(
            [sys.executable, "-m", "panel", "serve", "dashboard/app.py", "--address",
             "127.0.0.1", "--port", str(port), f"--allow-websocket-origin=127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_port(port)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                pages = {}
                for tab, key in (("Signals", "signal"), ("Screener", "pct_adv")):
                    page = browser.new_page(viewport={"width": 1600, "height": 900})
                    page.goto(f"http://127.0.0.1:{port}/")
                    page.wait_for_selector(".status[data-state='live']", timeout=120_000)
                    page.locator(".bk-tab", has_text=tab).first.click()
                    page.evaluate(STAMP_JS, key)
                    pages[tab] = page
                opened = time.time() * 1000
                pages["Signals"].wait_for_timeout(args.minutes * 60_000)
                arrivals = {
                    tab: page.evaluate("() => Object.values(window.__arrivals)")
                    for tab, page in pages.items()
                }
                browser.close()
        finally:
            serve.terminate()
            serve.wait(20)
    figures = {}
    for tab, what in (("Screener", "trade"), ("Signals", "bar close")):
        rows = np.array(arrivals[tab], dtype=np.float64).reshape(-1, 2)
        fresh = rows[rows[:, 1] > opened + 1_000]  # older rows were the backlog on opening
        latency = fresh[:, 0] - fresh[:, 1]
        if not len(latency):
            print(f"{tab}: no row arrived while the page watched")
            continue
        p50, p95, worst = np.percentile(latency, [50, 95, 100])
        figures[tab] = p95
        print(f"{tab}: {len(latency)} rows, {what} to the page p50 {p50:,.0f} ms, "
              f"p95 {p95:,.0f} ms, max {worst:,.0f} ms", flush=True)  # fmt: skip
    if len(figures) == 2:
        print(
            f"signals p95 {figures['Signals']:,.0f} ms (target < 1,000 ms) = "
            f"{figures['Signals'] / figures['Screener']:.2f}x the screener's p95 in this run"
        )
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
