"""Warm from the first minute, as a new user starts the app: `orderflow serve` and `panel serve
dashboard/app.py` (whose engine starts with the first session) against a stand-in of 600
contracts at 1,000 trades/s with a day of past, and no store. Within 60 s of the start the
imbalance heatmap spans 6 hours for at least 95 % of the contracts (the header's warm-up
count) and its 1h rankings equal the exchange's own trades over that hour; the footprint shows
the last 2 hours of candles within 10 s of opening a contract.

The stand-in runs in a process of its own (the exchange is not on the trader's machine) that
this test can ask for its trades, so the reference is the exchange's own trades, its generated
past and its live history, never the engine's klines.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import subprocess
import sys
import time
from multiprocessing.connection import Connection

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from pipelines.standin.server import StandInThread
from tests.ui.conftest import free_port
from tests.ui.footprint_js import SET_RANGE_JS, SOURCES_JS
from tests.ui.test_serve_command import ROOT, orderflow, wait_for_port

pytestmark = pytest.mark.ui

MINUTE = 60_000
HOUR = 60 * MINUTE

# The imbalance heatmap's time axis (the plot holding an Image): its start and end, epoch ms.
HEAT_X_JS = """
() => {
  const views = [];
  const walk = (v) => { views.push(v); for (const c of (v.child_views || [])) walk(c); };
  for (const root of Object.values(Bokeh.index)) walk(root);
  for (const v of views) {
    if (v.frame === undefined || !v.model.renderers) continue;
    if (!v.model.renderers.some(r => r.glyph && r.glyph.type === "Image")) continue;
    if (v.el.getBoundingClientRect().width === 0) continue;
    const r = v.model.x_range;
    return {start: r.start, end: r.end};
  }
  return null;
}
"""

# The rankings' rows as the page holds them: {buy: [[symbol, imbalance]...], sell: [...]}.
RANKINGS_JS = """
() => {
  const out = {buy: [], sell: []};
  for (const doc of Bokeh.documents) {
    for (const m of doc._all_models.values()) {
      const d = m.data;
      if (!d || d.imbalance_side === undefined || d.symbol === undefined) continue;
      for (let i = 0; i < d.symbol.length; i++) {
        out[d.imbalance_side[i]].push([d.symbol[i], d.imbalance[i]]);
      }
    }
  }
  return out;
}
"""


def heat_spans_hours(page, hours: float, timeout_ms: float) -> None:
    """Wait until the heatmap's time axis reaches `hours` back from now."""
    page.wait_for_function(
        f"() => {{ const x = ({HEAT_X_JS})(); return x !== null && "
        f"Date.now() - x.start >= {hours * HOUR}; }}",
        timeout=max(timeout_ms, 1),
    )


def choose(page, option: str) -> None:
    """Pick `option` in the visible select that offers it (history span, minimum volume)."""
    select = page.locator("select:visible").filter(has=page.locator(f"option[value='{option}']"))
    select.first.select_option(option)


WARMUP_COUNT = re.compile(r"minute history\s*([\d,]+)\s*/\s*([\d,]+)")


def warmed(page) -> tuple[int, int] | None:
    """The header's warm-up count while it runs ("minute history n/N"); None once done."""
    box = page.locator(".warmup")
    if box.count() == 0:
        return None
    found = WARMUP_COUNT.search(box.first.inner_text())
    return (int(found[1].replace(",", "")), int(found[2].replace(",", ""))) if found else None


def true_imbalances(exchange: StandInThread, start_ms: int, end_ms: int) -> dict[str, tuple]:
    """Per contract: ((taker buy - taker sell) / total quote volume, total quote volume) of its
    trades in [start_ms, end_ms), from the stand-in's own trades (its generated past and live
    history)."""

    def read() -> dict[str, tuple]:
        market = exchange.standin.market
        out = {}
        for sym, contract in enumerate(market.contracts):
            rows = market.agg_trades(sym, start_time=start_ms, end_time=end_ms - 1, limit=10**9)
            if len(rows) == 0:
                continue
            spec = contract.spec
            quote = rows["price"] * spec.tick * (rows["qty"] * spec.step)
            sell = quote[rows["buyer_maker"]].sum()
            buy = quote[~rows["buyer_maker"]].sum()
            out[contract.symbol] = (float((buy - sell) / (buy + sell)), float(buy + sell))
        return out

    return exchange.call(read)


def run_standin(conn: Connection, settings: dict) -> None:
    """The stand-in's process: serve, then answer the test's requests until told to stop."""
    with StandInThread(**settings) as exchange:
        conn.send((exchange.rest_url, exchange.ws_url))
        while (request := conn.recv()) is not None:
            if request[0] == "pause":  # stop trading; answers the exchange's time
                exchange.call(exchange.standin.pause)
                conn.send(exchange.call(lambda: exchange.standin.clock.now_ms()))
            else:  # ("imbalances", start_ms, end_ms)
                conn.send(true_imbalances(exchange, *request[1:]))


class Exchange:
    """The stand-in in its own process: its URLs, and its trades on request."""

    def __init__(self, **settings: object) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, theirs = context.Pipe()
        self._process = context.Process(target=run_standin, args=(theirs, settings), daemon=True)
        self._process.start()
        if not self._conn.poll(120):
            raise RuntimeError("the stand-in did not start")
        self.rest_url, self.ws_url = self._conn.recv()

    def pause(self) -> int:
        self._conn.send(("pause",))
        return self._conn.recv()

    def true_imbalances(self, start_ms: int, end_ms: int) -> pd.DataFrame:
        """Per contract (the index): `imbalance` and `volume` (quote) of its trades."""
        self._conn.send(("imbalances", start_ms, end_ms))
        rows = self._conn.recv()
        return pd.DataFrame(list(rows.values()), index=list(rows), columns=["imbalance", "volume"])

    def close(self) -> None:
        self._conn.send(None)
        self._process.join(30)
        if self._process.is_alive():
            self._process.kill()


def rankings_mismatch(shown: dict, truth: pd.DataFrame) -> str:
    """What differs between the page's rankings and the truth's ("" when nothing). A ranking is
    the 20 strongest of its side, the larger volume first where imbalances tie (a contract
    that only bought in the hour is at +1, like others)."""
    buyers = truth[truth["imbalance"] > 0].sort_values(["imbalance", "volume"], ascending=False)
    sellers = truth[truth["imbalance"] < 0].sort_values(
        ["imbalance", "volume"], ascending=[True, False]
    )
    for side, want in (("buy", buyers["imbalance"]), ("sell", sellers["imbalance"])):
        got = pd.Series(dict(shown[side]), dtype=np.float64)
        if len(got) != min(20, len(want)):
            return f"{side}: {len(got)} rows, {min(20, len(want))} expected"
        for rank, (symbol, value) in enumerate(got.items()):
            if symbol != want.index[rank] or abs(value - want.iloc[rank]) > 1e-9:
                theirs = truth["imbalance"].get(symbol)
                return (
                    f"{side} #{rank}: {symbol} {value!r} (truth {theirs!r}) vs "
                    f"{want.index[rank]} {want.iloc[rank]!r} (page {got.get(want.index[rank])!r})"
                )
    return ""


@pytest.fixture
def exchange():
    ex = Exchange(symbols=600, rate=1000, seed=5, history_s=86_400, klines_ready_h=8.0)
    yield ex
    ex.close()


def check_warm(page, exchange: Exchange, launched: float) -> None:
    """The page of an app launched at `launched` (monotonic s): warm within 60 s, the
    footprint's candles within 10 s, and the 1h rankings equal to the exchange's trades."""
    page.locator(".bk-tab", has_text="Imbalance").first.click()
    choose(page, "8h")
    # 95 % of the contracts warmed (8 hours of minutes each) within 60 s of the start: the
    # header counts them while the warm-up runs, and drops the count once it is done.
    seen = None
    while True:
        count = warmed(page)
        seen = count or seen
        if seen is not None and (count is None or count[0] >= 0.95 * count[1]):
            break
        assert time.monotonic() - launched <= 60, f"warmed {seen} at 60 s"
        page.wait_for_timeout(250)
    heat_spans_hours(page, 6, 60_000 - (time.monotonic() - launched) * 1000)

    # The footprint: the last two hours of candles within 10 s of opening it.
    page.locator(".bk-tab", has_text="Footprint").first.click()
    opened = time.monotonic()
    now = int(time.time() * 1000)
    # The view follows the newest bars until the trader moves it: frame the last two hours
    # (again, if a rebuild re-framed it) until they are drawn.
    page.wait_for_function(
        f"() => {{ const b = ({SOURCES_JS})().bars.filter(s => s.close.length > 0); "
        f"if (b.length > 0 && b[0].close.length >= 110 && "
        f"Math.min(...b[0].close) <= {now - 115 * MINUTE}) return true; "
        f"({SET_RANGE_JS})([{now - 2 * HOUR}, {now + MINUTE}]); return false; }}",
        timeout=max(1, 10_000 - (time.monotonic() - opened) * 1000),
        polling=1000,
    )

    # The 1h rankings against the exchange's trades: the market stops, then the page's
    # rankings of the last hour must come to equal the truth of that hour (the warm-up
    # completes the engine's first minute from its kline once that minute has closed).
    stopped = exchange.pause()
    page.locator(".bk-tab", has_text="Imbalance").first.click()
    page.locator(".bk-btn:visible", has_text=re.compile(r"^1h$")).first.click()
    choose(page, "any")  # every contract that traded, as the truth has them
    deadline = time.monotonic() + 120
    truths: dict[int, pd.DataFrame] = {}
    while True:
        minute = int(time.time() * 1000) // MINUTE
        shown = page.evaluate(RANKINGS_JS)
        if int(time.time() * 1000) // MINUTE == minute:
            if minute not in truths:
                truths[minute] = exchange.true_imbalances((minute - 60) * MINUTE, stopped + 1)
            mismatch = rankings_mismatch(shown, truths[minute])
            if not mismatch:
                return
        assert time.monotonic() < deadline, mismatch
        page.wait_for_timeout(500)  # the rankings refresh every 2 s


def test_orderflow_serve_is_warm_within_a_minute(browser, exchange) -> None:
    port = free_port()
    serve_args = ("serve", "--rest-url", exchange.rest_url, "--ws-url", exchange.ws_url,
                  "--no-db", "--port", str(port))  # fmt: skip
    launched = time.monotonic()
    with orderflow(*serve_args) as serve:
        wait_for_port(port, serve)
        page = browser.new_page(viewport={"width": 1500, "height": 850})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        try:
            page.goto(f"http://127.0.0.1:{port}/")
            check_warm(page, exchange, launched)
        finally:
            page.close()
    assert errors == [], errors[:5]


def test_panel_serve_is_warm_within_a_minute_of_the_first_session(browser, exchange) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ORDERFLOW_REST_URL": exchange.rest_url,
           "ORDERFLOW_WS_URL": exchange.ws_url}  # fmt: skip
    serve = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", "dashboard/app.py", "--address",
         "127.0.0.1", "--port", str(port), f"--allow-websocket-origin=127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    page = browser.new_page(viewport={"width": 1500, "height": 850})
    try:
        wait_for_port(port, serve)
        launched = time.monotonic()  # the engine starts with this first session
        page.goto(f"http://127.0.0.1:{port}/")
        check_warm(page, exchange, launched)
        expect(page.get_by_text(re.compile(r"UTC: 1m klines"))).to_be_visible()
    finally:
        page.close()
        serve.kill()
        serve.wait(10)
