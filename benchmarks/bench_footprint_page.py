"""The footprint tab in browsers: re-bin to the page, a day at tick level to the page, CPU.

    python -m benchmarks.bench_footprint_page [--symbols 600] [--rate 1000] [--rebins 20]

Part 1, live market: the stand-in in its own process (`orderflow simulate`, 600 contracts,
1,000 trades/s) and the dashboard in another (`panel serve dashboard/app.py` pointed at it).
The server's CPU (utime + stime from /proc) is measured with no browser (the baseline), then
with four headless Chromium sessions on the Footprint tab. In one session the price bin is
changed `--rebins` times; latency = from the selection in the page to the first frame whose
cells are the new bin's: all on its grid, two of one bar one bin apart (polled every 10 ms).
The same page does the same re-bins first as the server's only session: the baseline, whose
p95 the four sessions' p95 is given against.
It is also split in two: from the choice (the select's input event) to the first data message
on the page's websocket (the server's part, network included), and from there to the new cells
(the browser's part).

Part 2, a day of history: a store holding 24 h of a BTCUSDT-like contract (about 1.4 M trades,
tick 0.10), served with the footprint at one tick; latency = from setting the time axis to the
whole day (from a page at rest on the last half hour's cells) to the first frame holding the
datashader image of the day (spanning 20 h or more and the prices of every bar drawn).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

from benchmarks.common import free_port, standin_process
from tests.ui.footprint_js import SET_RANGE_JS

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TICKS = os.sysconf("SC_CLK_TCK")

# Resolves when the footprint's cells are those of a bin of `level` (price units): every level
# on its grid, and two levels of one bar exactly one bin apart (cells of a coarser bin, still
# on screen, are on a finer bin's grid too: the grid alone would pass them at once).
ON_GRID_JS = """
([level, timeout]) => new Promise((resolve) => {
  const start = performance.now();
  const check = () => {
    for (const doc of Bokeh.documents) for (const m of doc._all_models.values()) {
      const d = m.data;
      if (!d || d.level === undefined || d.bid === undefined || d.level.length === 0) continue;
      let ok = true, adjacent = false;
      const seen = new Map();
      for (let i = 0; i < d.level.length; i++) {
        const k = d.level[i] / level, n = Math.round(k);
        if (Math.abs(k - n) > 1e-6) { ok = false; break; }
        const bar = seen.get(d.bar_time[i]) || new Set();
        if (bar.has(n - 1) || bar.has(n + 1)) adjacent = true;
        bar.add(n); seen.set(d.bar_time[i], bar);
      }
      if (ok && adjacent) {
        window.__onGrid = performance.now();
        return resolve(window.__onGrid - start);
      }
    }
    if (performance.now() - start > timeout) return resolve(-1);
    setTimeout(check, 10);
  };
  check();
})
"""
# Installed before the page loads: the time of the last input event, and of the first websocket
# message of over 1 kB after it (a data message; acknowledgements and frame headers are smaller).
SPLIT_INIT_JS = """
window.__choice = null; window.__data = null;
const Socket = window.WebSocket;
window.WebSocket = function (...args) {
  const ws = new Socket(...args);
  ws.addEventListener('message', (e) => {
    const size = typeof e.data === 'string' ? e.data.length : (e.data.byteLength || 0);
    if (size > 1000 && window.__choice !== null && window.__data === null) {
      window.__data = performance.now();
    }
  });
  return ws;
};
window.WebSocket.prototype = Socket.prototype;
Object.assign(window.WebSocket, Socket);
document.addEventListener('input', () => {
  window.__choice = performance.now(); window.__data = null;
}, true);
"""
# Milliseconds from the last choice to the first data message after it, and to the new cells.
SPLIT_JS = """
() => [window.__data === null ? -1 : window.__data - window.__choice,
       window.__onGrid - window.__choice]
"""
# Resolves when the footprint shows cells and no image (the hour zoomed into is drawn).
CELLS_JS = """
(timeout) => new Promise((resolve) => {
  const start = performance.now();
  const check = () => {
    let cells = false, image = false;
    for (const doc of Bokeh.documents) for (const m of doc._all_models.values()) {
      const d = m.data;
      if (d && d.level !== undefined && d.bid !== undefined && d.level.length > 0) cells = true;
      if (d && d.image !== undefined && d.image[0] && d.image[0].length > 1) image = true;
    }
    if (cells && !image) return resolve(performance.now() - start);
    if (performance.now() - start > timeout) return resolve(-1);
    setTimeout(check, 10);
  };
  check();
})
"""
# Resolves when the footprint's image is that of the range asked for: it spans at least `span`
# ms of time, covers the price range of every bar drawn (the candle wicks' lows and tops) and
# holds data (an image of the previous view's prices, or of nothing, does not count).
IMAGE_JS = """
([span, timeout]) => new Promise((resolve) => {
  const start = performance.now();
  const check = () => {
    let lo = Infinity, hi = -Infinity;
    const images = [];
    for (const doc of Bokeh.documents) for (const m of doc._all_models.values()) {
      const d = m.data;
      if (!d) continue;
      if (d.price_top !== undefined && d.line_width !== undefined) {
        for (let i = 0; i < d.price.length; i++) {
          lo = Math.min(lo, d.price[i]); hi = Math.max(hi, d.price_top[i]);
        }
      }
      if (d.image !== undefined && d.image[0] && d.dw[0] >= span) images.push(d);
    }
    for (const d of images) {
      let filled = 0;
      for (const v of d.image[0]) if (!Number.isNaN(v)) filled++;
      if (filled > 0 && d.y[0] <= lo && d.y[0] + d.dh[0] >= hi) {
        return resolve(performance.now() - start);
      }
    }
    if (performance.now() - start > timeout) return resolve(-1);
    setTimeout(check, 10);
  };
  check();
})
"""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def cpu_share(pid: int, seconds: float) -> float:
    """Share of one core the process used over the next `seconds`."""
    start, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - start) / (time.monotonic() - t0)


@contextlib.contextmanager
def dashboard(env: dict[str, str], app: str = "dashboard/app.py") -> Iterator[tuple[str, int]]:
    port = free_port()
    cmd = [sys.executable, "-m", "panel", "serve", app, "--port", str(port), "--address",
           "127.0.0.1", f"--allow-websocket-origin=127.0.0.1:{port}"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(8)
        yield f"http://127.0.0.1:{port}/{Path(app).stem}", proc.pid
    finally:
        proc.terminate()
        proc.wait(15)


def open_footprint(browser, url: str, *, tabs: bool, init_js: str | None = None):
    context = browser.new_context(viewport={"width": 1500, "height": 850})
    if init_js:
        context.add_init_script(init_js)
    page = context.new_page()
    page.goto(url)
    if tabs:  # the whole app: open its Footprint tab
        page.locator(".bk-tab", has_text="Footprint").first.click(timeout=180_000)
    page.get_by_text("trades · bin").wait_for(timeout=180_000)
    return page


def rebin(page, count: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Change the price bin `count` times on the page: each one's latency to the new cells
    (-1 when not seen in 10 s) and its split (to the first data message, to the cells)."""
    select = page.locator("select").filter(has=page.locator("option", has_text="(5×)"))
    options = [o for o in select.first.locator("option").all_inner_texts() if "×" in o]
    latencies, splits = [], []
    for k in range(count):
        label = options[1 + k % 6]  # 2×, 5×, 10×, 20×, 25×, 50×
        level = float(label.split()[0])
        select.first.select_option(label=label)
        latencies.append(page.evaluate(ON_GRID_JS, [level, 10_000]))
        splits.append(page.evaluate(SPLIT_JS))
        page.wait_for_timeout(500)
    return np.array(latencies), splits


def summary(latencies: np.ndarray) -> str:
    done = latencies[latencies >= 0]
    if len(done) == 0:
        return f"0/{len(latencies)} seen"
    return (
        f"{len(done)}/{len(latencies)} seen, p50 {np.percentile(done, 50):.0f} ms, "
        f"p95 {np.percentile(done, 95):.0f} ms, max {done.max():.0f} ms"
    )


def live_market(symbols: int, rate: float, rebins: int) -> None:
    with standin_process(symbols=symbols, rate=rate) as (rest, ws):
        env = {"ORDERFLOW_REST_URL": rest, "ORDERFLOW_WS_URL": ws}
        with dashboard(env) as (url, pid), sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            # The served app starts its engine with the first session: open one and close it,
            # then the baseline is the engine and server with no browser.
            first = browser.new_page()
            first.goto(url)
            first.close()
            time.sleep(40)  # universe, streams and ADV loaded; the closed session expired
            idle = cpu_share(pid, 30)
            # The re-bin's baseline: the measured page as the server's only session.
            pages = [open_footprint(browser, url, tabs=True, init_js=SPLIT_INIT_JS)]
            time.sleep(10)
            alone, _ = rebin(pages[0], rebins)
            pages += [open_footprint(browser, url, tabs=True) for _ in range(3)]
            time.sleep(10)
            busy = cpu_share(pid, 30)
            latencies, splits = rebin(pages[0], rebins)
            browser.close()
    print(f"server CPU, no browser: {idle:.1%} of a core; four footprint sessions: {busy:.1%} "
          f"({(busy - idle) / 4:.1%} a session above the baseline)")  # fmt: skip
    print(f"re-bin to the page, one session (baseline): {summary(alone)}")
    print(f"re-bin to the page, four sessions: {summary(latencies)}")
    if (alone >= 0).any() and (latencies >= 0).any():
        ratio = np.percentile(latencies[latencies >= 0], 95) / np.percentile(alone[alone >= 0], 95)
        print(f"  p95 four sessions / one session: {ratio:.2f}")
    seen = [
        (data, cells - data)
        for (data, cells), ms in zip(splits, latencies, strict=True)
        if ms >= 0 and data >= 0
    ]
    if not seen:
        print("  no data message seen after a choice: the split is not measured")
        return
    to_data, to_cells = np.array(seen).T
    print(f"  of which choice to data on the page: p50 {np.percentile(to_data, 50):.0f} ms, p95 "
          f"{np.percentile(to_data, 95):.0f} ms; data to new cells: p50 "
          f"{np.percentile(to_cells, 50):.0f} ms, p95 {np.percentile(to_cells, 95):.0f} ms")  # fmt: skip


DAY_APP = """
import os, panel as pn
from dashboard import theme
from dashboard.footprint import FootprintView
from pipelines.engine.service import Engine, EngineConfig
from tests.dashboard.feed import Feed
theme.configure()
engine = Engine(EngineConfig(db_path=os.environ["DAY_DB"], buffer_retention_s=3600))
Feed(engine)
pn.Column(FootprintView(engine=engine, symbol="BTCUSDT", price_bin=1),
          sizing_mode="stretch_both").servable()
"""


def day_of_history(trades_per_hour: int) -> None:
    from pipelines.engine.service import Engine
    from pipelines.records.batch import EngineBatch
    from pipelines.storage.writer import StoreWriter
    from tests.dashboard.feed import Feed

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "day.db")
        engine = Engine()
        feed = Feed(engine)
        now = int(time.time() * 1000)
        start = now - 24 * 3600_000
        # Room for the whole day: the bound past which trades are owed is not measured here.
        with StoreWriter(db, engine.registry, max_owed_rows=72 * trades_per_hour) as writer:
            for hour in range(24):
                t0 = start + hour * 3600_000
                trades = feed.trades(t0, t0 + 3600_000, 3 * trades_per_hour)
                writer.submit(EngineBatch(seq=hour, created_ms=t0, trades=trades))
            assert writer.flush(120)
        app = Path(tmp) / "day_app.py"
        app.write_text(DAY_APP)
        with dashboard({"DAY_DB": db, "PYTHONPATH": str(ROOT)}, str(app)) as (url, _), \
                sync_playwright() as pw:  # fmt: skip
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = open_footprint(browser, url, tabs=False)
            times = []
            for _ in range(3):  # first load from the store, then cached bars
                page.evaluate(SET_RANGE_JS, [now - 30 * 60_000, now])
                # The half hour's cells drawn first (and no image): the day is timed from a
                # page at rest; a round whose start never showed them is not timed.
                if page.evaluate(CELLS_JS, 30_000) < 0:
                    times.append(None)
                    continue
                page.wait_for_timeout(1000)
                t = time.perf_counter()
                page.evaluate(SET_RANGE_JS, [start, now + 60_000])
                seen = page.evaluate(IMAGE_JS, [20 * 3600_000, 30_000])
                times.append((time.perf_counter() - t) * 1000 if seen >= 0 else -1)
            browser.close()
    shown = ", ".join(
        "not timed (no cells before)" if ms is None else "not seen in 30 s" if ms < 0
        else f"{ms:.0f} ms" for ms in times
    )  # fmt: skip
    print(f"24 h of 1-minute tick-level bars ({24 * trades_per_hour:,} BTCUSDT trades) to the "
          f"page, first from the store, then twice more: {shown}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=600)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--rebins", type=int, default=20)
    parser.add_argument("--day-trades-per-hour", type=int, default=60_000)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    day_of_history(args.day_trades_per_hour)
    live_market(args.symbols, args.rate, args.rebins)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
