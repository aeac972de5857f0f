"""A restart with a store: the imbalance heatmap shows the stored minutes at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from dashboard.imbalance import ImbalanceView
from pipelines.engine.service import Engine, EngineConfig
from tests.dashboard.feed import SPECS, Feed

MINUTE = 60_000


def naive_imbalance(trades: np.ndarray) -> dict[tuple[str, int], float]:
    """(symbol, minute open) -> (buy - sell) / (buy + sell) of taker quote, trade by trade."""
    sums: dict[tuple[str, int], list[float]] = {}
    for t in trades:
        spec = SPECS[int(t["sym"])]
        quote = float(spec.ticks_to_price(t["price"])) * float(spec.steps_to_qty(t["qty"]))
        side = sums.setdefault((spec.symbol, int(t["time"]) // MINUTE * MINUTE), [0.0, 0.0])
        side[1 if t["buyer_maker"] else 0] += quote
    return {k: (b - s) / (b + s) for k, (b, s) in sums.items()}


def test_restart_shows_the_stored_hour(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    now = int(time.time() * 1000)
    first = Engine(EngineConfig(db_path=db))
    feed = Feed(first)
    first.open_store()
    start = (now // MINUTE - 62) * MINUTE
    pushed = []

    async def run() -> None:
        for minute in range(start, now - 3_000, MINUTE):  # one batch a minute, up to now
            trades = feed.trades(minute, min(minute + MINUTE, now - 3_000), 300)
            pushed.append(trades)
            await feed.push(trades)
        await first.stop()

    asyncio.run(run())
    trades = np.concatenate(pushed)
    expected = naive_imbalance(trades)

    second = Engine(EngineConfig(db_path=db))
    for spec in SPECS:
        second.registry.add(spec)
    second.open_store()  # the restart: no trade has arrived yet
    view = ImbalanceView(engine=second, span="1h")
    view.__panel__()
    shown = view._sent
    assert shown is not None and sorted(shown.index) == sorted(s.symbol for s in SPECS)
    # The first pushed minute is never stored (it may be partial), nor the last unsettled one;
    # every minute between them is on screen as the trades made it.
    settled = [m for m in shown.columns if start < m < (now - 2_000) // MINUTE * MINUTE - MINUTE]
    assert len(settled) >= 55
    for symbol in shown.index:
        for minute in settled:
            assert np.isclose(shown.loc[symbol, minute], expected[(symbol, minute)], rtol=1e-9)
    asyncio.run(second.stop())
