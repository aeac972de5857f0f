"""Big orders, minute imbalances and signals reach the store as the analytics computed them,
and the signals come back into the tracker when the engine starts again."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

from pipelines.analytics.hub import OrderFlowAnalytics
from pipelines.analytics.signal_tracker import SignalTracker
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.persistence import AnalyticsPersister, restore_signals
from pipelines.engine.service import Engine, EngineConfig
from pipelines.records.timeunits import HOUR_MS, MINUTE_MS
from pipelines.storage.store import Store
from pipelines.storage.writer import StoreWriter
from tests.dashboard.feed import SPECS, Feed
from tests.storage.synth import (
    GRIDS,
    SIGNALS_START,
    T0,
    batch,
    by_symbol,
    make_signals,
    registry,
)


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


def test_persisted_minutes_big_orders_and_signals_equal_the_analytics(tmp_path: Path) -> None:
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
        signals, stored = store.load_signals(T0 - HOUR_MS, T0 + HOUR_MS)
    # Every signal the tracker found, once (the persister sends each batch's new ones).
    found, _ = analytics.signals.since(0)
    assert len(found) > 10
    assert by_symbol(signals, stored) == by_symbol(found, reg)
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


def test_restore_takes_the_last_four_hours_on_the_engines_registry(tmp_path: Path, caplog) -> None:
    path = tmp_path / "store.db"
    rows = make_signals(600)  # bars over 6 hours
    with StoreWriter(path, registry(), clock=lambda: SIGNALS_START, commit_interval_s=0.0) as w:
        w.submit_signals(rows)
        assert w.flush(10)
    # The engine lists the contracts in another order, ETHUSDT not at all, DOGEUSDT on a new
    # grid (its stored integers mean other prices there).
    engine_registry = SymbolRegistry(
        [
            ContractSpec("XAUUSDT", "0.005", "0.0001"),
            ContractSpec("DOGEUSDT", "0.00002", "1"),
            ContractSpec("BTCUSDT", "0.1", "0.001"),
        ]
    )
    tracker = SignalTracker(engine_registry)
    now = SIGNALS_START + 5 * HOUR_MS + 123
    with Store(path) as store:
        taken = restore_signals(store, tracker, now)
        assert restore_signals(store, None, now) == 0  # an engine without signals
    window = (rows["bar_time"] >= now - 4 * HOUR_MS) & (rows["bar_time"] < now)
    want = rows[window & np.isin(rows["sym"], [0, 3])]  # BTCUSDT, XAUUSDT
    got, _ = tracker.since(0)
    assert taken == len(want) > 100
    assert by_symbol(got, engine_registry) == by_symbol(want, registry())
    assert np.all(np.diff(got["bar_time"]) >= 0)  # oldest first, as the tracker keeps them

    # A store that cannot be read is named in the log; the engine starts without them.
    raw = sqlite3.connect(path)
    raw.execute("DROP TABLE signal_rows")
    raw.commit()
    raw.close()
    with Store(path) as store, caplog.at_level(logging.WARNING):
        assert restore_signals(store, SignalTracker(engine_registry), now) == 0
    assert "signals not restored" in caplog.text


def test_an_engine_restart_shows_the_stored_signals(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    now = int(time.time() * 1000)
    first = Engine(EngineConfig(db_path=db))
    feed = Feed(first)
    first.open_store()
    start = (now // MINUTE_MS - 20) * MINUTE_MS

    async def run() -> None:
        for t in range(start, now - 3_000, 20_000):  # a batch every 20 s, up to now
            await feed.push(feed.trades(t, min(t + 20_000, now - 3_000), 200))
        await first.stop()

    asyncio.run(run())
    found, _ = first.analytics.signals.since(0)
    assert len(found) > 20

    second = Engine(EngineConfig(db_path=db))
    for spec in reversed(SPECS):  # other indices than the first run's
        second.registry.add(spec)
    second.open_store()  # the restart: no trade has arrived yet
    restored, _ = second.analytics.signals.since(0)
    assert by_symbol(restored, second.registry) == by_symbol(found, first.registry)
    asyncio.run(second.stop())

    # An engine without signals starts on the same store; its persister leaves them as stored.
    third = Engine(EngineConfig(db_path=db, signals=False))
    feed = Feed(third)
    third.open_store()
    assert third.analytics.signals is None

    async def run_third() -> None:
        await feed.push(feed.trades(now - 2_000, now, 50))
        await third.stop()

    asyncio.run(run_third())
    with Store(db) as store:
        stored, registry_ = store.load_signals(now - HOUR_MS, now)
    assert by_symbol(stored, registry_) == by_symbol(found, first.registry)
