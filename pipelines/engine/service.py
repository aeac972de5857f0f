"""The engine: one per process, fed by every socket, feeding every consumer one batch at a time.

Data path, all on one asyncio loop:
    sockets -> FrameInbox (raw frames) -> every `batch_interval_s`: FrameParser (columnar batch)
    -> TradeSequencer (dedupe, gap hold; GapFiller fills from REST) -> EngineBatch -> streamz
    source -> sinks: TradeBuffer, OrderFlowAnalytics, StoreWriter, and whatever `subscribe` adds.
One batch, not one trade, is an event in the streamz graph.

The public surface, all on `Engine` (views and analysts use nothing else):
    lifecycle     start(), stop(), `async with Engine(config)`, open_store()
    consumers     subscribe(sink), flush()
    state         registry, analytics, books (partial depth), quote_volume_24h, open_interest,
                  last_batch
    order books   order_books: BookManager (open/close a contract's local book, current,
                  history, raster; engine/books.py)
    reading       trades(symbol, start, end), footprint(symbol, start, end, rules),
                  history_start(symbol), store
    history       load_history(symbol, start, end) -> HistoryLoad (shared, cancellable, progress)
    recovery      reconcile(symbols)
    health        status(), latency_samples(since), frames_measured, last_error
Each responsibility behind it has its own module: `universe` (listings), `adv` (average daily
volume), `gaps` (REST fills), `storefill` (what the store is owed after a fault), `history`
(buffer + store reads, restore), `backfill` (REST history, exactly once at the seam),
`history_loads` (one load per contract shared by sessions), `metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from streamz import Stream

from pipelines.analytics.footprint import Footprint, FootprintRules
from pipelines.analytics.hub import OrderFlowAnalytics
from pipelines.binance import endpoints as ep
from pipelines.binance.contracts import PERPETUAL
from pipelines.binance.parsers import FrameParser
from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.adv import keep_adv_current
from pipelines.engine.allocator import MemoryTrimmer, pin_mmap_threshold
from pipelines.engine.backfill import HistoryLoader
from pipelines.engine.books import MAX_BOOKS, BookManager
from pipelines.engine.buffer import TradeBuffer
from pipelines.engine.connection import ConnectionSettings
from pipelines.engine.gaps import GapFiller
from pipelines.engine.history import HistoryReader, restore_recent
from pipelines.engine.history_loads import HistoryLoad, HistoryLoads
from pipelines.engine.inbox import FrameInbox
from pipelines.engine.kline_candles import KlineCandles
from pipelines.engine.metrics import LatencyRing, Rate
from pipelines.engine.openinterest import OpenInterest
from pipelines.engine.persistence import (
    AnalyticsPersister,
    restore_imbalances,
    restore_signals,
)
from pipelines.engine.rest import RestClient
from pipelines.engine.sequencer import TradeSequencer
from pipelines.engine.status import EngineStatus
from pipelines.engine.storefill import StoreBackfill
from pipelines.engine.streams import StreamSet
from pipelines.engine.universe import Universe
from pipelines.engine.warmup import MinuteWarmup
from pipelines.records.batch import BookTop, EngineBatch
from pipelines.storage.retention import Retention
from pipelines.storage.schema import DEFAULT_CACHE_MB
from pipelines.storage.store import Store
from pipelines.storage.writer import StoreWriter

log = logging.getLogger(__name__)

ALL_MARKET_STREAMS = (ep.ALL_FORCE_ORDERS, ep.ALL_TICKERS)


@dataclass(slots=True)
class EngineConfig:
    rest_url: str = ep.BINANCE_REST_URL
    ws_url: str = ep.BINANCE_WS_URL
    contract_types: tuple[str, ...] = (PERPETUAL,)
    symbols: tuple[str, ...] | None = None  # watch only these (default: the whole universe)
    book_depth: bool = True
    depth_levels: int = 10
    depth_speed_ms: int = 500
    books: tuple[str, ...] = ()  # local order books kept from the start (`--books A,B`)
    book_memory_s: int = 600  # book seconds kept in memory; older ones are read from the store
    signals: bool = True  # order-flow signals of every contract's closed bars (analytics.signals)
    warm_hours: float = 8.0  # minute history from 1m klines at start (engine/warmup.py); 0: none
    # 100 ms: at 600 contracts half the per-batch cost of 50 ms (engine 8.9 % of a core, not
    # 11.1 %), and still far inside the 1 s a big order may take to reach the page.
    batch_interval_s: float = 0.1
    universe_refresh_s: float = 300.0
    streams_per_connection: int = 200
    buffer_retention_s: float = 4 * 3600
    buffer_budget_mb: int = 256  # leaves room under 1 GB for analytics, writer and the UI
    backfill_concurrency: int = 2
    # Weight per minute a history load leaves to gap fills (each fill costs 20).
    history_reserve_weight: int = 480
    history_hours: float = 2.0  # what a footprint loads from REST when a contract opens
    gap_give_up_s: float = 600.0  # a gap REST has not filled by then is reported and skipped
    db_path: str | None = None  # SQLite store: persist every batch, resume from it on start
    retention: Retention = field(default_factory=Retention)  # the store's; 0 keeps forever
    restore_buffer_s: float = 3600.0  # raw trades reloaded into the buffer on restart
    memory_trim_s: float = 60.0  # hand free heap pages back to the system this often
    # Rows waiting for a failing store kept in memory (~100 B each); past it, owed by id range.
    store_owed_rows: int = 1_000_000
    store_cache_mb: int = DEFAULT_CACHE_MB  # the writer's SQLite page cache, resident once full
    connection: ConnectionSettings = field(default_factory=ConnectionSettings)


class Engine:
    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config = config or EngineConfig()
        pin_mmap_threshold()  # see allocator.py: keeps RSS from creeping over a long day
        self._trimmer = MemoryTrimmer(config.memory_trim_s)
        self.registry = SymbolRegistry()
        self.parser = FrameParser(self.registry)
        self.sequencer = TradeSequencer()
        self.buffer = TradeBuffer(
            retention_ms=int(config.buffer_retention_s * 1000),
            budget_bytes=config.buffer_budget_mb * 2**20,
        )
        self.inbox = FrameInbox()
        self.rest = RestClient(config.rest_url)
        self.streams = StreamSet(
            config.ws_url,
            self.inbox,
            per_connection=config.streams_per_connection,
            settings=config.connection,
        )
        self.universe = Universe(
            self.rest,
            self.registry,
            self.sequencer,
            self.streams,
            contract_types=config.contract_types,
            symbols=config.symbols,
            book_depth=config.book_depth,
            depth_levels=config.depth_levels,
            depth_speed_ms=config.depth_speed_ms,
        )
        self.gaps = GapFiller(
            self.rest,
            self.sequencer,
            self.registry,
            concurrency=config.backfill_concurrency,
            give_up_s=config.gap_give_up_s,
        )
        self.history = HistoryReader(self.registry, self.buffer, config.db_path)
        self.open_interest = OpenInterest(self.rest, self.registry)
        self.history_loads = HistoryLoads(
            HistoryLoader(
                self.rest,
                self.registry,
                sequencer=self.sequencer,
                buffer=self.buffer,
                sink=lambda: self.writer.submit if self.writer is not None else None,
                reserve_weight=config.history_reserve_weight,
                wait_while=lambda: self.warmup.first_pass_running,
            )
        )
        self.source = Stream(asynchronous=True)
        self.source.sink(self._keep)
        self.analytics = OrderFlowAnalytics(self.registry, signals=config.signals)
        self.subscribe(self.analytics.update)
        self.warmup = MinuteWarmup(
            self.rest,
            self.registry,
            self.analytics.imbalance,
            hours=config.warm_hours,
            reserve_weight=config.history_reserve_weight,
        )
        self.candles = KlineCandles(self.rest)  # footprint candles before the trades held
        self.books: dict[int, BookTop] = {}  # latest partial depth per symbol
        self.order_books = BookManager(
            self.rest,
            self.registry,
            config.ws_url,
            store=lambda: self.history.store,
            sink=lambda: self.writer.submit_book_seconds if self.writer is not None else None,
            max_books=MAX_BOOKS,
            memory_s=config.book_memory_s,
            reserve_weight=config.history_reserve_weight,
            settings=config.connection,
        )
        self.quote_volume_24h: dict[int, float] = {}  # from !ticker@arr
        self.last_batch: EngineBatch | None = None
        self._seen_liquidations: deque[tuple] = deque(maxlen=20_000)
        self._latency = LatencyRing()
        self._frames = Rate()
        self._trades = Rate()
        self._newest_event_ms = 0
        self._seq = 0
        self._tasks: list[asyncio.Task] = []
        self._running = False
        self._error = ""
        self.writer: StoreWriter | None = None
        self.store_backfill: StoreBackfill | None = None
        self.store_problem = ""  # why the store is not used, when a caller could not open it
        self.restored_trades = 0

    # ------------------------------------------------------------------ consumers

    def subscribe(self, sink: Callable[[EngineBatch], object]) -> None:
        """Attach a consumer: called (or awaited) with every EngineBatch, in order."""
        self.source.sink(sink)

    def _keep(self, batch: EngineBatch) -> None:
        self.buffer.append(batch.trades)
        for book in batch.books:
            self.books[book.sym] = book
        self.quote_volume_24h.update(
            zip(batch.tickers["sym"].tolist(), batch.tickers["quote_volume"].tolist(), strict=True)
        )
        self.last_batch = batch
        self._trimmer.tick()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._running = True
        await self.universe.refresh()
        if self.config.db_path:
            self.open_store()
        await self.streams.add(ALL_MARKET_STREAMS)
        for symbol in self.config.books:
            try:
                await self.order_books.open(symbol, "cli")
            except ValueError as exc:  # not listed, too many: said once, the engine goes on
                log.warning("%s", exc)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._batch_loop(), name="engine-batches"),
            loop.create_task(self.order_books.run(), name="engine-order-books"),
            *(
                [loop.create_task(self.store_backfill.run(), name="engine-store-backfill")]
                if self.store_backfill is not None
                else []
            ),
            loop.create_task(self.gaps.run(), name="engine-gaps"),
            loop.create_task(
                self.universe.run(self.config.universe_refresh_s), name="engine-universe"
            ),
            loop.create_task(
                keep_adv_current(self.rest, self.analytics.orders, self.registry),
                name="engine-adv",
            ),
            loop.create_task(self.open_interest.run(), name="engine-open-interest"),
            *(
                [loop.create_task(self.warmup.run(), name="engine-warmup")]
                if self.config.warm_hours > 0
                else []
            ),
        ]

    async def stop(self) -> None:
        self._running = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.history_loads.stop()
        await self.streams.stop()
        await self.flush()
        if self.store_backfill is not None:
            # What the store is owed, while REST is still open (a store still failing keeps it).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.store_backfill.fill_owed(), 60)
        await self.rest.close()
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)
        self.history.close()

    def open_store(self) -> None:
        """Resume from the store and persist every batch from now on (`start` calls it).

        Each symbol resumes after its last stored trade, so its first live trade shows the
        downtime as a gap, which REST fills; a gap older than REST serves is reported in the
        status, not hidden. The registry must hold the universe first.
        """
        if self.writer is not None or not self.config.db_path:
            return
        window_s = min(self.config.restore_buffer_s, self.config.buffer_retention_s)
        resume, self.restored_trades = restore_recent(
            self.config.db_path, self.registry, self.buffer, window_s
        )
        self.sequencer.resume_from(resume)
        now_ms = int(time.time() * 1000)
        minutes = restore_imbalances(self.history.store, self.analytics.imbalance, now_ms)
        # Before the persister below exists: it sends only signals found after these.
        signals = restore_signals(self.history.store, self.analytics.signals, now_ms)
        log.info(
            "restored %d symbols, %d recent trades, %d minute imbalances, %d signals from %s",
            len(resume),
            self.restored_trades,
            minutes,
            signals,
            self.config.db_path,
        )
        self.writer = StoreWriter(
            self.config.db_path,
            self.registry,
            max_owed_rows=self.config.store_owed_rows,
            cache_mb=self.config.store_cache_mb,
            retention=self.config.retention,
        ).start()
        self.store_backfill = StoreBackfill(self.rest, self.writer, self.registry)
        # `submit` never waits: a slow or failing store must not hold the live path back.
        self.subscribe(self.writer.submit)
        self.subscribe(AnalyticsPersister(self.analytics, self.writer))

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def refresh_universe(self) -> tuple[list[str], list[str]]:
        """Pick up listings and delistings now; returns (added, removed)."""
        return await self.universe.refresh()

    # ------------------------------------------------------------------ batches

    async def _batch_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.batch_interval_s)
            try:
                await self.flush()
            except Exception as exc:  # a consumer's failure must not stop ingestion
                self._error = f"batch: {type(exc).__name__}: {exc}"
                log.exception("batch failed")

    async def flush(self) -> EngineBatch | None:
        """Parse what the sockets delivered, sequence it and emit one EngineBatch."""
        frames, received = self.inbox.drain()
        settled_ms = self.streams.settled_ms()  # with the drain: no frame in between
        filled = self.gaps.take()
        if not frames and not filled:
            return None
        parsed = self.parser.parse(frames)
        released = self.sequencer.push(parsed.trades)
        if filled:
            released = np.concatenate([*filled, released])
        if len(parsed.trades):
            self._newest_event_ms = max(
                self._newest_event_ms, int(parsed.trades["event_time"].max())
            )
        self._seq += 1
        batch = EngineBatch(
            seq=self._seq,
            created_ms=int(time.time() * 1000),
            exchange_ms=self._newest_event_ms,
            settled_ms=settled_ms,
            trades=released,
            liquidations=self._new_liquidations(parsed.liquidations),
            tickers=parsed.tickers,
            books=parsed.books,
        )
        await self.source.emit(batch)
        visible = time.monotonic()
        self._latency.record(visible - np.asarray(received))
        self._frames.count += len(frames)
        self._trades.count += len(released)
        return batch

    def _new_liquidations(self, rows: np.ndarray) -> np.ndarray:
        """Drop repeats (the same frame from two sockets while a connection rotates)."""
        if len(rows) == 0:
            return rows
        keep = np.ones(len(rows), dtype=bool)
        seen = set(self._seen_liquidations)
        for i, row in enumerate(rows):
            key = (int(row["sym"]), int(row["time"]), int(row["event_time"]), float(row["qty"]))
            if key in seen:
                keep[i] = False
            else:
                seen.add(key)
                self._seen_liquidations.append(key)
        return rows[keep]

    async def reconcile(self, symbols: list[str] | None = None) -> int:
        """Fetch any trades newer than the last released id and emit them; returns how many."""
        recovered = await self.gaps.fetch_tails(
            symbols if symbols is not None else sorted(self.registry.active)
        )
        await self.flush()
        return recovered

    # ------------------------------------------------------------------ reading

    def trades(
        self, symbol: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> np.ndarray:
        return self.history.trades(symbol, start_ms, end_ms)

    def footprint(
        self, symbol: str, start_ms: int, end_ms: int, rules: FootprintRules
    ) -> Footprint:
        """Footprint of [start_ms, end_ms), always from the original trades (see history.py)."""
        return self.history.footprint(symbol, start_ms, end_ms, rules)

    def history_start(self, symbol: str) -> int | None:
        return self.history.history_start(symbol)

    def load_history(self, symbol: str, start_ms: int, end_ms: int | None = None) -> HistoryLoad:
        """Load [start_ms, end_ms) of a contract from REST into the buffer and the store.

        Without `end_ms` it goes back from the first trade the engine holds (or the exchange's
        newest), so the seam with the live sequence is exact. Sessions asking for a range a
        load already covers share it; `load.progress` tells how far it is, `load.cancel()`
        stops it. See backfill.py.
        """
        return self.history_loads.request(symbol, start_ms, end_ms)

    @property
    def store(self) -> Store | None:
        return self.history.store

    # ------------------------------------------------------------------ health

    @property
    def last_error(self) -> str:
        """The newest error of any part of the engine, for the header and the logs."""
        return self._error or self.gaps.last_error or self.universe.last_error

    def store_health(self) -> tuple[str, int]:
        """(what is wrong with the store in plain words or "", trades waiting to be written)."""
        if self.writer is None:
            return (f"unavailable: {self.store_problem}" if self.store_problem else ""), 0
        w = self.writer.status()
        waiting = w.waiting_rows + w.owed_trades
        if w.fault is not None:
            return w.fault, waiting
        if not w.running and self._running:
            return "writer stopped", waiting
        return "", waiting

    @last_error.setter
    def last_error(self, text: str) -> None:
        self._error = text

    @property
    def frames_measured(self) -> int:
        """Frames whose receipt-to-visible latency has been recorded so far."""
        return self._latency.measured

    def latency_samples(self, since: int = 0) -> np.ndarray:
        """Latencies (ms) of the frames recorded after the first `since`, newest 20,000 at most."""
        return self._latency.samples(since)

    def status(self) -> EngineStatus:
        conns = self.streams.status() + self.order_books.streams.status()
        stats = self.sequencer.stats
        lat = self.latency_samples()
        filled = len(lat)
        p50, p99 = np.percentile(lat, [50, 99]).tolist() if filled else (None, None)  # one pass
        now_ms = time.time() * 1000 + self.universe.clock_offset_ms  # the exchange's clock
        store_fault, store_waiting = self.store_health()
        return EngineStatus(
            running=self._running,
            symbols=len(self.registry.active),
            streams=sum(c.streams for c in conns),
            connections=conns,
            connections_up=sum(c.connected for c in conns),
            frames_per_s=self._frames.read(),
            trades_per_s=self._trades.read(),
            lag_ms=(now_ms - self._newest_event_ms) if self._newest_event_ms else None,
            latency_p50_ms=p50,
            latency_p99_ms=p99,
            gaps_found=stats.gaps_found,
            gaps_filled=stats.gaps_filled,
            gaps_open=len(self.sequencer.gaps),
            gaps_abandoned=stats.gaps_abandoned,
            trades_missing=stats.trades_missing,
            duplicates=stats.duplicates,
            rejected_frames=self.parser.rejections.total,
            filtered_rows=self.parser.filtered.total(),
            rest_weight_used=self.rest.stats.used_weight,
            rest_throttled=self.rest.stats.throttled,
            trades_held=self.sequencer.pending_trades,
            buffer_trades=len(self.buffer),
            buffer_bytes=self.buffer.memory_bytes,
            batches=self._seq,
            trades_taken=self._trades.count,
            last_error=self.last_error,
            store_fault=store_fault,
            store_waiting=store_waiting,
            warmup=self.warmup.progress if self.config.warm_hours > 0 else None,
        )
