"""Big orders and minute imbalances reach the store as the analytics computed them."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import numpy as np

from pipelines.analytics.hub import OrderFlowAnalytics
from pipelines.engine.persistence import AnalyticsPersister
from pipelines.records.timeunits import MINUTE_MS
from pipelines.storage.store import Store
from pipelines.storage.writer import StoreWriter
from tests.storage.synth import GRIDS, T0, batch, registry


def naive_minute_quotes(trades: np.ndarray) -> dict[tuple[str, int], tuple[float, float]]:
    """(symbol, minute) -> (taker sell quote, taker buy quote), trade by trade in Decimal."""
    out: dict[tuple[str, int], list[Decimal]] = {}
    for row in trades.tolist():
        sym, _, _, _, time, price, qty, seller, _ = row
        name, tick, step = GRIDS[sym]
        key = (name, time // MINUTE_MS * MINUTE_MS)
        sides = out.setdefault(key, [Decimal(0), Decimal(0)])
        sides[0 if seller else 1] += price * Decimal(tick) * qty * Decimal(step)
    return {k: (float(v[0]), float(v[1])) for k, v in out.items()}


def test_persisted_minutes_and_big_orders_equal_the_analytics(tmp_path: Path) -> None:
    reg = registry()
    analytics = OrderFlowAnalytics(reg)
    analytics.orders.set_adv({name: 1.0 for name, _, _ in GRIDS})  # every order is big
    path = tmp_path / "store.db"
    batches = [batch(k, per_symbol=40, step_ms=20_000) for k in range(12)]  # 4 minutes
    with StoreWriter(path, reg, commit_interval_s=0.0) as writer:
        persister = AnalyticsPersister(analytics, writer)

        async def feed() -> None:
            for b in batches:
                b.exchange_ms = int(b.trades["time"].max())
                analytics.update(b)
                persister(b)

        asyncio.run(feed())
        assert writer.flush(10)
    trades = np.concatenate([b.trades for b in batches])
    expected = naive_minute_quotes(trades)
    with Store(path) as store:
        minutes = store.load_imbalances(T0, T0 + 10 * MINUTE_MS)
        orders = store.load_big_orders(T0, T0 + 10 * MINUTE_MS)
    # The minute of the first batch is skipped (it may be partial); the others persist once
    # the exchange clock is 2 s past their end.
    first = batches[0].exchange_ms // MINUTE_MS * MINUTE_MS + MINUTE_MS
    last_end = (batches[-1].exchange_ms - 2_000) // MINUTE_MS * MINUTE_MS
    settled = list(range(first, last_end, MINUTE_MS))
    assert len(settled) >= 2
    assert sorted(set(minutes["timestamp"])) == settled
    for row in minutes.itertuples():
        sell, buy = expected[(row.symbol, row.timestamp)]
        assert np.isclose(row.bid_volume, sell, rtol=1e-12)
        assert np.isclose(row.ask_volume, buy, rtol=1e-12)
        assert np.isclose(row.imbalance_ratio, (buy - sell) / (buy + sell), rtol=1e-12)
    assert len(minutes) == len(GRIDS) * len(settled)
    detected = analytics.orders.big_since(0, threshold=analytics.orders.keep_fraction)
    assert len(orders) == len(detected) > 0
    keys = ["symbol", "first_agg_id"]
    orders = orders.sort_values(keys).reset_index(drop=True)
    detected = detected.sort_values(keys).reset_index(drop=True)
    assert orders[[*keys, "last_agg_id", "time"]].equals(detected[[*keys, "last_agg_id", "time"]])
    assert np.allclose(orders["notional"], detected["notional"], rtol=1e-12)
