"""Server CPU of one footprint update, in process: the data-only update against the DynamicMap
redraw it replaces (the same run's baseline).

    python -m benchmarks.bench_footprint_redraw [--repeat 40]

A FootprintView is rendered into a Bokeh document (as a served session would be) on an engine
holding 2 h of synthetic trades (tests/dashboard/feed.py, ~200,000 trades over three
contracts). Each step pushes one second of trades into the live bar and draws it: through
`FootprintView._patch` (what a live tick and a rule change take), or by bumping `redraws` (the
DynamicMap update). CPU is `time.process_time` per step, trades' ingestion included in both.
A re-bin is timed the same way, and a full redraw of a day at one tick (the zoomed-out image;
its ~1.44 M BTCUSDT trades held in the buffer, not read from a store).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import numpy as np
from bokeh.document import Document
from panel.io.server import set_curdoc

from dashboard import theme
from dashboard.footprint import FootprintView
from pipelines.engine.service import Engine, EngineConfig
from tests.dashboard.feed import Feed

MINUTE = 60_000


def rendered(engine: Engine, **params: object) -> tuple[FootprintView, Document]:
    view = FootprintView(engine=engine, **params)
    doc = Document()
    with set_curdoc(doc):
        doc.add_root(view.__panel__().get_root(doc))
        view.refresh()
    return view, doc


def per_step(view: FootprintView, doc: Document, feed: Feed, repeat: int, *, patch: bool):
    t = int(time.time() * 1000)
    costs = []
    with set_curdoc(doc):
        for _ in range(repeat):
            t += 1000
            start = time.process_time()
            asyncio.run(feed.push(feed.trades(t - 1000, t, 50)))
            view.source.refresh()
            if not (patch and view._patch()):
                view.redraws += 1
            costs.append(time.process_time() - start)
    return np.array(costs) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    theme.configure()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    engine = Engine()
    feed = Feed(engine)
    now = int(time.time() * 1000)
    asyncio.run(feed.push(feed.trades(now - 120 * MINUTE, now - 1000, 200_000)))
    view, doc = rendered(engine, symbol="BTCUSDT")
    per_step(view, doc, feed, 5, patch=True)  # warm
    full = per_step(view, doc, feed, args.repeat, patch=False)
    data = per_step(view, doc, feed, args.repeat, patch=True)
    print(f"live tick, DynamicMap redraw (baseline): median {np.median(full):.1f} ms CPU")
    print(f"live tick, data-only update:             median {np.median(data):.1f} ms CPU "
          f"({np.median(data) / np.median(full):.2f}× the baseline)")  # fmt: skip
    rebins = []
    with set_curdoc(doc):
        for bin_ticks in (2, 5, 10, 20, 25, 50, 1) * 3:
            start = time.process_time()
            view.price_bin = bin_ticks
            rebins.append((time.process_time() - start) * 1000)
    print(f"re-bin (rebuild from the trades and the update): median {np.median(rebins):.0f} ms, "
          f"max {max(rebins):.0f} ms CPU")  # fmt: skip

    day_engine = Engine(EngineConfig(buffer_retention_s=26 * 3600, buffer_budget_mb=1024))
    day_feed = Feed(day_engine)
    start_ms = now - 24 * 3600_000
    for hour in range(24):
        t0 = start_ms + hour * 3600_000
        asyncio.run(day_feed.push(day_feed.trades(t0, t0 + 3600_000, 180_000)))
    day_view, day_doc = rendered(day_engine, symbol="BTCUSDT", price_bin=1)
    ranges = day_view._streams[0]
    times = []
    with set_curdoc(day_doc):
        for k in range(4):  # the day, then 16 bars, twice (the first day read builds its bars)
            x_range = (start_ms, now + MINUTE) if k % 2 == 0 else (now - 16 * MINUTE, now)
            t = time.perf_counter()
            ranges.event(x_range=x_range, y_range=None)
            times.append((time.perf_counter() - t) * 1000)
    print(f"a day at one tick ({len(day_view.source.frames()[1])} bars), DynamicMap redraw: "
          f"first {times[0]:.0f} ms, again {times[2]:.0f} ms; back to 16 bars {times[1]:.0f} / "
          f"{times[3]:.0f} ms (wall)")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
