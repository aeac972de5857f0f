"""The engine's local books against the stand-in's true book: the whole platform, end to end.

An in-process stand-in on a manual clock (20 contracts, 1,000 trades/s) and an `Engine` keeping
books of four of them over `/public` `@depth@100ms` and REST snapshots. At every checkpoint,
for every book that is synced, the engine's levels (every level within its band) equal the
stand-in's ground truth as of the engine's last applied update id (`StandIn.true_book(s, u)`,
its journal of the last 120 s), restricted to that band; read in one go on the one event loop,
so the two describe the same `u`. Best bid < best ask at every checkpoint and in every second
the books recorded. Three phases: clean; dropped and reordered diff events (`depthgap`,
`depthreorder`), after which the engine must have resynced from REST and be equal again; and
forced resyncs (the book sockets dropped while the market moves on, band refreshes), equal
again after each.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import aiohttp
import pytest

from pipelines.engine.books import BookManager
from pipelines.engine.connection import ConnectionSettings
from pipelines.engine.service import Engine, EngineConfig
from pipelines.standin.clock import ManualClock
from pipelines.standin.server import StandIn

pytestmark = pytest.mark.slow

START = 1_790_000_000_000
BOOKS = ("BTCUSDT", "ETHUSDT", "XRPUSDT", "1000PEPEUSDT")  # four grids, busy and quieter


class Checks:
    """Compares the engine's books with the truth and counts what it saw."""

    def __init__(self, exchange: StandIn, books: BookManager) -> None:
        self.exchange = exchange
        self.books = books
        self.compared = dict.fromkeys(BOOKS, 0)
        self.levels = 0  # levels compared, over all checkpoints
        self.crossed = 0

    def check(self) -> set[str]:
        """Compare every synced book now; returns the contracts compared."""
        done = set()
        for symbol in BOOKS:
            view = self.books.current(symbol)
            assert view is not None
            if not view.synced:
                continue
            # No await between reading the engine's book and the truth: the same `u`.
            truth = self.exchange.true_book(symbol, view.update_id)
            spec = view.spec
            low, high = view.band
            for name, ours in (("bids", view.levels.bids), ("asks", view.levels.asks)):
                expected = sorted(
                    (_units(p, spec.tick_size), _units(q, spec.step_size)) for p, q in truth[name]
                )
                expected = [(p, q) for p, q in expected if low <= p <= high]
                assert [tuple(row) for row in ours.tolist()] == expected, (
                    f"{symbol} {name} differ from the truth at u={view.update_id}"
                )
                self.levels += len(expected)
            if view.best_bid is not None and view.best_ask is not None:
                self.crossed += view.best_bid >= view.best_ask
            self.compared[symbol] += 1
            done.add(symbol)
        return done


def _units(text: str, unit: str) -> int:
    """A wire price or quantity in whole ticks or steps, in Decimal (independent of the
    engine's float conversion); it must lie on the grid."""
    units = Decimal(text) / Decimal(unit)
    assert units == units.to_integral_value(), (text, unit)
    return int(units)


async def run_market(clock: ManualClock, ms: int) -> None:
    """Move the stand-in's time on by `ms`, a quarter second at a time, letting the engine
    take each one in (it applies book frames every 0.1 s of real time)."""
    for _ in range(ms // 250):
        await clock.advance(250)
        await asyncio.sleep(0.02)


async def checkpoint(clock: ManualClock, checks: Checks, *, all_synced: bool = False) -> set:
    """A second of market, then a pause for the engine to apply what arrived; compares."""
    await run_market(clock, 1000)
    await asyncio.sleep(0.25)
    done = checks.check()
    if all_synced:
        assert done == set(BOOKS), checks.books.status()
    return done


async def until_all_synced(clock: ManualClock, checks: Checks, limit: int = 30) -> None:
    """Checkpoints until every book is synced and compared (a resync takes a snapshot)."""
    for _ in range(limit):
        if await checkpoint(clock, checks) == set(BOOKS):
            return
    raise AssertionError(f"books did not resync: {checks.books.status()}")


async def observe(exchange: StandIn, http: aiohttp.ClientSession) -> None:
    """Another client of the same diff streams, reading everything: with it the stand-in's
    streams run on while the engine's sockets are down (as Binance's do), so a reconnect
    misses events and the next one's `pu` breaks the engine's chain."""
    streams = "/".join(f"{s.lower()}@depth@100ms" for s in BOOKS)
    async with http.ws_connect(f"{exchange.ws_url}/public/stream?streams={streams}") as ws:
        async for _ in ws:
            pass


async def test_engine_books_equal_the_true_book_clean_under_faults_and_resyncs() -> None:
    clock = ManualClock(START)
    async with StandIn(symbols=20, rate=1000, seed=7, clock=clock) as exchange:
        settings = ConnectionSettings(watchdog_s=5.0, backoff_initial_s=0.05, backoff_max_s=0.2)
        config = EngineConfig(
            rest_url=exchange.rest_url,
            ws_url=exchange.ws_url,
            warm_hours=0,
            signals=False,
            books=BOOKS,
            connection=settings,
        )
        async with Engine(config) as engine:
            books = engine.order_books
            assert books.symbols == sorted(BOOKS)
            checks = Checks(exchange, books)
            await until_all_synced(clock, checks)

            # (a) Clean: every book equal at every checkpoint, no resync.
            for _ in range(12):
                await checkpoint(clock, checks, all_synced=True)
            assert books.resyncs == 0 and books.snapshots == len(BOOKS)
            clean = dict(checks.compared)

            # (b) Dropped and reordered diff events: breaks of the pu chain, resyncs from REST.
            exchange.set_faults("depthgap=0.02,depthreorder=0.02")
            for _ in range(20):
                await checkpoint(clock, checks)  # whatever is synced is exact
            exchange.set_faults("")
            faults = exchange.stats()["frame_faults_open_connections"]
            assert faults["depthgap"] >= 5 and faults["depthreorder"] >= 5, faults
            resyncs_b = books.resyncs
            assert resyncs_b >= 5, resyncs_b
            assert books.snapshots >= len(BOOKS) + resyncs_b
            await until_all_synced(clock, checks)
            for _ in range(3):
                await checkpoint(clock, checks, all_synced=True)
            after_faults = dict(checks.compared)

            # (c) Forced: the book sockets dropped while the market moves on; band refreshes.
            http = aiohttp.ClientSession()
            observer = asyncio.get_running_loop().create_task(observe(exchange, http))
            await checkpoint(clock, checks, all_synced=True)
            resyncs_c = []
            for _ in range(3):
                snapshots, resyncs = books.snapshots, books.resyncs
                reconnects = sum(c.reconnects for c in books.streams.status())
                books.streams.drop_all()
                await clock.advance(500)  # events go out before the sockets are back
                await until_all_synced(clock, checks)
                for _ in range(2):
                    await checkpoint(clock, checks, all_synced=True)
                assert sum(c.reconnects for c in books.streams.status()) > reconnects
                resyncs_c.append(books.resyncs - resyncs)
                refreshed = [s for s in BOOKS if books.refresh(s)]
                assert refreshed == list(BOOKS)
                for _ in range(3):
                    await checkpoint(clock, checks, all_synced=True)
                assert all(books._books[s].candidate is None for s in BOOKS)  # swapped in
                assert books.snapshots >= snapshots + len(BOOKS)
            # Every second the books recorded: never crossed.
            recorded = [sec for s in BOOKS for sec in books.history(s, 0, 2**62)[0]]
            crossed_seconds = sum(
                int(lv.bids[-1, 0] >= lv.asks[0, 0])
                for _, lv in recorded
                if len(lv.bids) and len(lv.asks)
            )
            uncrossed = sum(books._books[s].book.uncrossed for s in BOOKS)
            rejected = books.rejections.total
            observer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await observer
            await http.close()

    assert checks.crossed == 0 and crossed_seconds == 0 and uncrossed == 0
    assert rejected == 0
    assert all(n >= 1 for n in resyncs_c), resyncs_c  # each drop broke some chain
    assert len(recorded) > 4 * 40  # seconds with a synced book, about a minute per book
    for symbol in BOOKS:
        assert clean[symbol] >= 12, clean
        assert after_faults[symbol] - clean[symbol] >= 10, (after_faults, clean)
        assert checks.compared[symbol] - after_faults[symbol] >= 15, checks.compared
    assert checks.levels > 100_000  # the comparisons are not vacuous
