"""BookManager against a small fake exchange (a true book, its diff frames and snapshots):
the engine's book equals the true book within the band at checkpoints, under dropped and
reordered frames and the resyncs they force; refreshes before the price leaves the band; the
history is in memory, in the store and survives a restart; bad input is one line."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import orjson
import pytest

from pipelines.binance import endpoints as ep
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.books import BookManager
from pipelines.storage.store import Store
from pipelines.storage.writer import StoreWriter

SPEC = ContractSpec("BTCUSDT", "0.1", "0.001")
LEVELS = 1200  # per side: more than a snapshot's 1000, so the band is narrower than the book


def _price(ticks: int) -> str:
    return f"{ticks // 10}.{ticks % 10}"


def _qty(steps: int) -> str:
    return f"{steps // 1000}.{steps % 1000:03d}"


class FakeExchange:
    """A dense true book drifting upwards; diff frames with U/u/pu; REST snapshots of it."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.mid = 600_000
        self.bids = {self.mid - 1 - i: self.rng.randint(1, 5000) for i in range(LEVELS)}
        self.asks = {self.mid + i: self.rng.randint(1, 5000) for i in range(LEVELS)}
        self.u = 10_000
        self.time = 1_700_000_000_000
        self.snapshots = 0

    def step(self) -> bytes:
        rng = self.rng
        changes_b: dict[int, int] = {}
        changes_a: dict[int, int] = {}
        move = rng.choice([0, 0, 1, 2, 3])  # upwards: the price walks out of the band
        for p in range(self.mid, self.mid + move):  # asks taken, bids placed
            changes_a[p] = 0
            changes_b[p] = rng.randint(1, 5000)
        self.mid += move
        for _ in range(rng.randint(1, 8)):
            p = self.mid + rng.randint(-40, 39)
            (changes_b if p < self.mid else changes_a)[p] = rng.choice([0, rng.randint(1, 5000)])
        if rng.random() < 0.1:  # far below the band: never enters the book
            changes_b[self.mid - 5000] = rng.randint(1, 5000)
        for side, changes in ((self.bids, changes_b), (self.asks, changes_a)):
            for p, q in changes.items():
                if q:
                    side[p] = q
                else:
                    side.pop(p, None)
        first = self.u + rng.randint(1, 50)
        previous, self.u = self.u, first + rng.randint(0, 20)
        self.time += 100
        data = {"e": "depthUpdate", "E": self.time + 2, "T": self.time, "s": "BTCUSDT",
                "U": first, "u": self.u, "pu": previous,
                "b": [[_price(p), _qty(q)] for p, q in sorted(changes_b.items())],
                "a": [[_price(p), _qty(q)] for p, q in sorted(changes_a.items())]}  # fmt: skip
        return orjson.dumps({"stream": "btcusdt@depth@100ms", "data": data})

    def snapshot(self, limit: int) -> dict:
        self.snapshots += 1
        bids = sorted(self.bids.items(), reverse=True)[:limit]
        asks = sorted(self.asks.items())[:limit]
        return {"lastUpdateId": self.u, "E": self.time, "T": self.time,
                "bids": [[_price(p), _qty(q)] for p, q in bids],
                "asks": [[_price(p), _qty(q)] for p, q in asks]}  # fmt: skip


class FakeRest:
    def __init__(self, exchange: FakeExchange) -> None:
        self.exchange = exchange
        self.calls: list[tuple[str, dict, int]] = []

    async def get(self, path: str, params: dict, *, reserve: int = 0) -> dict:
        self.calls.append((path, params, reserve))
        await asyncio.sleep(0)
        return self.exchange.snapshot(int(params["limit"]))


class FakeStreams:
    def __init__(self) -> None:
        self.streams: set[str] = set()

    async def add(self, streams) -> None:
        self.streams.update(streams)

    async def remove(self, streams) -> None:
        self.streams.difference_update(streams)

    async def stop(self) -> None:
        self.streams.clear()


def manager_for(exchange: FakeExchange, **kwargs) -> BookManager:
    registry = SymbolRegistry([SPEC, ContractSpec("ETHUSDT", "0.01", "0.001")])
    manager = BookManager(FakeRest(exchange), registry, "ws://unused", interval_s=0.005, **kwargs)
    manager.streams = FakeStreams()
    return manager


async def settle(manager: BookManager, exchange: FakeExchange) -> None:
    """Wait until the book has applied everything sent (a resync included)."""
    for _ in range(400):
        book = manager._books["BTCUSDT"].book
        if not len(manager.inbox) and book.synced and book.last_final_id == exchange.u:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"the book did not catch up: {manager.status()}")


def assert_equals_truth(manager: BookManager, exchange: FakeExchange) -> None:
    view = manager.current("BTCUSDT")
    assert view is not None and view.synced and view.update_id == exchange.u
    low, high = view.band
    assert view.levels.bids.tolist() == [
        [p, q] for p, q in sorted(exchange.bids.items()) if low <= p <= high
    ]
    assert view.levels.asks.tolist() == [
        [p, q] for p, q in sorted(exchange.asks.items()) if low <= p <= high
    ]
    assert view.best_bid < view.best_ask
    assert view.best_bid == max(exchange.bids) and view.best_ask == min(exchange.asks)


async def test_the_book_equals_the_true_book_under_drops_reorders_and_resyncs():
    exchange = FakeExchange()
    rows: list[tuple] = []
    manager = manager_for(exchange, sink=lambda: rows.extend)
    await manager.open("BTCUSDT", "cli")
    assert manager.streams.streams == {"btcusdt@depth@100ms"}
    assert ep.route_of("btcusdt@depth@100ms") == ep.PUBLIC_ROUTE
    task = asyncio.get_running_loop().create_task(manager.run())
    rng = random.Random(5)
    held = None
    checkpoints = 0
    try:
        for step in range(1500):
            frame = exchange.step()
            fault = rng.random()
            if step > 50 and fault < 0.004:
                continue  # a dropped frame: the next pu breaks the chain
            if step > 50 and fault < 0.008 and held is None:
                held = frame  # delivered after the next one: a reorder
                continue
            manager.inbox.put(frame, 0.0)
            if held is not None:
                manager.inbox.put(held, 0.0)
                held = None
            if step % 50 == 49:
                # A checkpoint: one more frame closes any break, then the book must be exact.
                manager.inbox.put(exchange.step(), 0.0)
                await settle(manager, exchange)
                assert_equals_truth(manager, exchange)
                checkpoints += 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    entry = manager._books["BTCUSDT"]
    assert checkpoints == 30
    assert manager.rejections.total == 0
    assert manager.resyncs >= 3  # the faults forced resyncs ...
    assert exchange.snapshots == manager.snapshots >= manager.resyncs + 1
    assert all(c == (ep.DEPTH_PATH, {"symbol": "BTCUSDT", "limit": 1000}, 480)
               for c in manager.rest.calls)  # fmt: skip
    # History: one row per second with a synced book; keyframes after every break.
    states, spec = manager.history("BTCUSDT", 0, exchange.time + 1)
    assert spec == SPEC and len(rows) == len(entry.seconds) == len(states)
    assert sum(row[2] for row in rows) > manager.resyncs  # a keyframe after every break
    assert all(s.bids[-1, 0] < s.asks[0, 0] for _, s in states if len(s.bids) and len(s.asks))


async def test_a_refresh_swaps_in_a_wider_band_without_a_gap():
    exchange = FakeExchange(seed=3)
    manager = manager_for(exchange, memory_s=3600)
    await manager.open("BTCUSDT")
    task = asyncio.get_running_loop().create_task(manager.run())
    try:
        bands = []
        for step in range(1200):
            manager.inbox.put(exchange.step(), 0.0)
            if step % 20 == 19:
                await settle(manager, exchange)
                bands.append(manager.current("BTCUSDT").band)
        assert_equals_truth(manager, exchange)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert len(set(bands)) >= 2  # refreshed as the price walked up
    assert bands[-1][0] > bands[0][0]
    states, _ = manager.history("BTCUSDT", 0, exchange.time + 1)
    times = [t for t, _ in states]
    assert times == list(range(times[0], times[-1] + 1, 1000))  # no second missing


async def test_history_survives_a_restart_through_the_store(tmp_path: Path):
    exchange = FakeExchange(seed=4)
    path = tmp_path / "store.db"
    writer = StoreWriter(path, SymbolRegistry([SPEC]), clock=lambda: exchange.time).start()
    manager = manager_for(exchange, sink=lambda: writer.submit_book_seconds, memory_s=30)
    await manager.open("BTCUSDT")
    task = asyncio.get_running_loop().create_task(manager.run())
    try:
        for step in range(900):
            manager.inbox.put(exchange.step(), 0.0)
            if step % 30 == 29:
                await settle(manager, exchange)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    live, _ = manager.history("BTCUSDT", 0, exchange.time + 1)  # only 30 s in memory
    assert writer.flush(10)
    writer.close()
    with Store(path) as store:
        restarted = manager_for(exchange, store=lambda: store)  # a new engine: nothing in memory
        after, spec = restarted.history("BTCUSDT", 0, exchange.time + 1)
    assert spec == SPEC and len(after) > 60
    assert [t for t, _ in after][-len(live) :] == [t for t, _ in live]
    last_live, last_stored = live[-1][1], after[-1][1]
    assert last_live.bids.tolist() == last_stored.bids.tolist()
    raster, _ = manager.raster("BTCUSDT", live[0][0] - 1000, live[-1][0], 5000,
                               live[-1][1].bids[0, 0], live[-1][1].asks[-1, 0], 10)  # fmt: skip
    assert raster.covered.all() and raster.bids.any() and raster.asks.any()


async def test_bad_input_is_counted_and_never_stops_the_books():
    exchange = FakeExchange()
    manager = manager_for(exchange, max_books=1)
    with pytest.raises(ValueError, match="not a listed contract"):
        await manager.open("NOPEUSDT")
    await manager.open("BTCUSDT")
    with pytest.raises(ValueError, match="1 books are open"):
        await manager.open("ETHUSDT")
    manager.apply_frames([b"{not json", b'{"stream":"x","data":{"e":"depthUpdate","s":"BTCUSDT"}}',
                          b'{"result":null,"id":1}', exchange.step()])  # fmt: skip
    assert manager.rejections.total == 2
    await manager.close("BTCUSDT")
    assert manager.current("BTCUSDT") is None and not manager.streams.streams


@pytest.mark.slow
async def test_books_from_the_config_sync_against_the_stand_in(tmp_path: Path):
    """Today's stand-in (before its true book): `--books` opens a book that syncs over /public
    and records its seconds into the store; it is never crossed."""
    from pipelines.engine.connection import ConnectionSettings
    from pipelines.engine.service import Engine, EngineConfig
    from pipelines.standin.server import StandIn

    async with StandIn(symbols=4, rate=200, seed=3) as exchange:
        settings = ConnectionSettings(watchdog_s=5.0, backoff_initial_s=0.1, backoff_max_s=1.0)
        config = EngineConfig(rest_url=exchange.rest_url, ws_url=exchange.ws_url, warm_hours=0,
                              books=("BTCUSDT", "NOPEUSDT"), db_path=str(tmp_path / "s.db"),
                              connection=settings)  # fmt: skip
        async with Engine(config) as engine:
            books = engine.order_books
            assert books.symbols == ["BTCUSDT"]  # the unknown one was named in the log
            for _ in range(100):
                await asyncio.sleep(0.1)
                view = books.current("BTCUSDT")
                assert (
                    view.best_bid is None
                    or view.best_ask is None
                    or (view.best_bid < view.best_ask)
                )
                if len(books._books["BTCUSDT"].seconds) >= 3:
                    break
            assert view.synced and books.rejections.total == 0
            await asyncio.to_thread(engine.writer.flush, 10)
            states, spec = books.history("BTCUSDT", 0, 2**62)
            assert len(states) >= 3 and spec == engine.registry.spec("BTCUSDT")
        with Store(tmp_path / "s.db") as store:
            stored, _ = store.load_book("BTCUSDT", 0, 2**62)
        assert [t for t, _ in stored][: len(states)] == [t for t, _ in states]
