"""The engine: universe, streams, exactly-once sequencing and the micro-batch pipeline.

Data path, all on one asyncio loop:
    sockets -> FrameInbox (raw frames) -> every `batch_interval_s`: FrameParser (columnar batch)
    -> TradeSequencer (dedupe, gap hold + REST backfill) -> EngineBatch -> streamz source
    -> sinks: TradeBuffer, analytics, store writer, UI snapshots.
One batch, not one trade, is an event in the streamz graph.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from streamz import Stream

from pipelines.bigflow import next_refresh_ms
from pipelines.binance import endpoints as ep
from pipelines.binance.contracts import PERPETUAL, ContractSpec, parse_exchange_info
from pipelines.binance.parsers import BookTop, FrameParser, parse_agg_trades_rest
from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.allocator import MemoryTrimmer, pin_mmap_threshold
from pipelines.engine.analytics import OrderFlowAnalytics
from pipelines.engine.batch import EngineBatch
from pipelines.engine.buffer import TradeBuffer
from pipelines.engine.connection import ConnectionSettings
from pipelines.engine.inbox import FrameInbox
from pipelines.engine.rest import RestClient, RestError
from pipelines.engine.sequencer import Gap, TradeSequencer
from pipelines.engine.status import EngineStatus
from pipelines.engine.streams import StreamSet
from pipelines.footprint import (
    MINUTE_MS,
    Footprint,
    FootprintRules,
    MinuteProfile,
    footprint_from_profile_rules,
    footprint_from_records,
    profile_from_records,
)
from pipelines.storage.store import Store, UnknownSymbolError
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
    batch_interval_s: float = 0.05
    universe_refresh_s: float = 300.0
    streams_per_connection: int = 200
    buffer_retention_s: float = 4 * 3600
    buffer_budget_mb: int = 256  # leaves room under 1 GB for analytics, writer and the UI
    backfill_concurrency: int = 2
    gap_give_up_s: float = 600.0  # a gap REST has not filled by then is reported and skipped
    db_path: str | None = None  # SQLite store: persist every batch, resume from it on start
    restore_buffer_s: float = 3600.0  # raw trades reloaded into the buffer on restart
    memory_trim_s: float = 60.0  # hand free heap pages back to the system this often
    connection: ConnectionSettings = field(default_factory=ConnectionSettings)


class _Rate:
    """Events per second over the last completed interval of at least one second."""

    def __init__(self) -> None:
        self.count = 0
        self._mark = (time.monotonic(), 0)
        self.value = 0.0

    def read(self) -> float:
        now = time.monotonic()
        t0, n0 = self._mark
        if now - t0 >= 1.0:
            self.value = (self.count - n0) / (now - t0)
            self._mark = (now, self.count)
        return self.value


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
        self.source = Stream(asynchronous=True)
        self.source.sink(self._keep)
        self.analytics = OrderFlowAnalytics(self.registry)
        self.subscribe(self.analytics.update)
        self.books: dict[int, BookTop] = {}  # latest partial depth per symbol
        self.quote_volume_24h: dict[int, float] = {}  # from !ticker@arr
        self.last_batch: EngineBatch | None = None
        self._backfilled: list[np.ndarray] = []
        self._seen_liquidations: deque[tuple] = deque(maxlen=20_000)
        self._latencies = np.zeros(20_000)
        self._latency_n = 0
        self._frames = _Rate()
        self._trades = _Rate()
        self._newest_event_ms = 0
        self._seq = 0
        self._tasks: list[asyncio.Task] = []
        self._running = False
        self.last_error = ""
        self.writer: StoreWriter | None = None
        self._store: Store | None = None
        self._stored_since: dict[str, tuple[int | None, float]] = {}
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
        await self.refresh_universe()
        if self.config.db_path:
            self.open_store()
        await self.streams.add(ALL_MARKET_STREAMS)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._batch_loop(), name="engine-batches"),
            loop.create_task(self._backfill_loop(), name="engine-backfill"),
            loop.create_task(self._universe_loop(), name="engine-universe"),
            loop.create_task(self._adv_loop(), name="engine-adv"),
        ]

    async def stop(self) -> None:
        self._running = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.streams.stop()
        await self.flush()
        await self.rest.close()
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)
        if self._store is not None:
            self._store.close()
            self._store = None

    def open_store(self) -> None:
        """Resume from the store and persist every batch from now on (`start` calls it).

        The registry must hold the universe first, so stored symbols map to their indices.
        """
        if self.writer is not None or not self.config.db_path:
            return
        self._restore(self.config.db_path)
        self.writer = StoreWriter(self.config.db_path, self.registry).start()
        self.subscribe(self.writer.submit_async)

    def _restore(self, db_path: str) -> None:
        """Resume each symbol after its last stored trade and reload the recent raw trades.

        The first live trade of a symbol then shows the downtime as a gap, which REST fills;
        a gap older than REST serves is reported in the status, not hidden.
        """
        if not os.path.exists(db_path):
            return
        with Store(db_path) as store:
            last_ids = store.last_agg_ids()
            # Older bars come from the store's minute profiles; reload only the recent trades.
            window_s = min(self.config.restore_buffer_s, self.config.buffer_retention_s)
            since = int(time.time() * 1000 - window_s * 1000)
            resume: dict[int, int] = {}
            for symbol, last_id in last_ids.items():
                sym = self.registry.index(symbol)
                if sym is None:
                    continue
                resume[sym] = last_id
                records, spec = store.load_trades(symbol, since, int(time.time() * 1000) + 1)
                mine = self.registry.spec(sym)
                if len(records) and (spec.tick_size, spec.step_size) == (
                    mine.tick_size,
                    mine.step_size,
                ):
                    records["sym"] = sym
                    self.buffer.append(records)
                    self.restored_trades += len(records)
        self.sequencer.resume_from(resume)
        log.info(
            "restored %d symbols, %d recent trades from %s",
            len(resume),
            self.restored_trades,
            db_path,
        )

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ universe

    def streams_for(self, symbol: str) -> list[str]:
        names = [ep.agg_trade_stream(symbol)]
        if self.config.book_depth:
            names.append(
                ep.partial_depth_stream(
                    symbol, self.config.depth_levels, self.config.depth_speed_ms
                )
            )
        return names

    async def refresh_universe(self) -> tuple[list[str], list[str]]:
        """Pick up listings and delistings from exchangeInfo; returns (added, removed)."""
        info = await self.rest.exchange_info()
        specs = parse_exchange_info(info, contract_types=self.config.contract_types)
        if self.config.symbols is not None:
            wanted = set(self.config.symbols)
            specs = [s for s in specs if s.symbol in wanted]
        listed = {s.symbol for s in specs}
        added = [s.symbol for s in specs if s.symbol not in self.registry.active]
        removed = sorted(self.registry.active - listed)
        for spec in specs:
            if spec.symbol in added:
                self.registry.add(spec)
        self.sequencer.ensure_capacity(len(self.registry))
        for symbol in removed:
            self.registry.deactivate(symbol)
        if added:
            await self.streams.add(n for s in added for n in self.streams_for(s))
        if removed:
            await self.streams.remove(n for s in removed for n in self.streams_for(s))
        if added or removed:
            log.info("universe: %d contracts (+%d, -%d)", len(listed), len(added), len(removed))
        return added, removed

    async def _universe_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.universe_refresh_s)
            try:
                await self.refresh_universe()
            except (RestError, KeyError, TypeError) as exc:
                self.last_error = f"universe refresh: {exc}"
                log.warning(self.last_error)

    async def _adv_loop(self) -> None:
        """ADV of every contract now, again after each UTC midnight, and for new listings."""
        loaded: set[str] = set()
        refresh_at = 0
        while True:
            now_ms = int(time.time() * 1000)
            if now_ms >= refresh_at:
                loaded.clear()
                # Daily klines close at midnight; a few minutes later the new day is served.
                refresh_at = next_refresh_ms(now_ms, delay_ms=5 * 60_000)
            todo = sorted(self.registry.active - loaded)
            if todo:
                await self.analytics.load_adv(self.rest, todo)
                loaded.update(todo)
            await asyncio.sleep(30)

    # ------------------------------------------------------------------ batches

    async def _batch_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.batch_interval_s)
            try:
                await self.flush()
            except Exception as exc:  # a consumer's failure must not stop ingestion
                self.last_error = f"batch: {type(exc).__name__}: {exc}"
                log.exception("batch failed")

    async def flush(self) -> EngineBatch | None:
        """Parse what the sockets delivered, sequence it and emit one EngineBatch."""
        frames, received = self.inbox.drain()
        if not frames and not self._backfilled:
            return None
        parsed = self.parser.parse(frames)
        released = self.sequencer.push(parsed.trades)
        if self._backfilled:
            released = np.concatenate([*self._backfilled, released])
            self._backfilled.clear()
        if len(parsed.trades):
            self._newest_event_ms = max(
                self._newest_event_ms, int(parsed.trades["event_time"].max())
            )
        self._seq += 1
        batch = EngineBatch(
            seq=self._seq,
            created_ms=int(time.time() * 1000),
            exchange_ms=self._newest_event_ms,
            trades=released,
            liquidations=self._new_liquidations(parsed.liquidations),
            tickers=parsed.tickers,
            books=parsed.books,
        )
        await self.source.emit(batch)
        visible = time.monotonic()
        self._record_latency(visible - np.asarray(received))
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

    def _record_latency(self, seconds: np.ndarray) -> None:
        n = len(seconds)
        if n == 0:
            return
        size = len(self._latencies)
        idx = (self._latency_n + np.arange(min(n, size))) % size
        self._latencies[idx] = seconds[-size:] * 1000.0
        self._latency_n += n

    @property
    def frames_measured(self) -> int:
        """Frames whose receipt-to-visible latency has been recorded so far."""
        return self._latency_n

    def latency_samples(self, since: int = 0) -> np.ndarray:
        """Latencies (ms) of the frames recorded after the first `since`, newest 20,000 at most."""
        size = len(self._latencies)
        taken = min(self._latency_n - since, size)
        if taken <= 0:
            return np.zeros(0)
        return self._latencies[np.arange(self._latency_n - taken, self._latency_n) % size]

    # ------------------------------------------------------------------ gaps

    async def _backfill_loop(self) -> None:
        busy: dict[int, asyncio.Task] = {}
        while True:
            for sym in [s for s, t in busy.items() if t.done()]:
                del busy[sym]
            for gap in self.sequencer.missing():
                if gap.sym not in busy and len(busy) < self.config.backfill_concurrency:
                    busy[gap.sym] = asyncio.get_running_loop().create_task(self._fill(gap))
            await asyncio.sleep(0.02)

    async def _fill(self, gap: Gap) -> None:
        symbol = self.registry.symbol(gap.sym)
        try:
            rows = await self.rest.agg_trades(symbol, gap.from_id, ep.AGG_TRADES_MAX_LIMIT)
        except RestError as exc:
            if exc.status == 400 or time.monotonic() - gap.found_at > self.config.gap_give_up_s:
                self._abandon(gap, str(exc))
            return
        if not rows and time.monotonic() - gap.found_at > self.config.gap_give_up_s:
            self._abandon(gap, "REST returned nothing for the gap")
            return
        trades = parse_agg_trades_rest(rows, gap.sym, self.registry)
        released = self.sequencer.fill(trades)
        if len(released):
            self._backfilled.append(released)

    def _abandon(self, gap: Gap, why: str) -> None:
        symbol = self.registry.symbol(gap.sym)
        self.last_error = f"{symbol}: trades {gap.from_id}..{gap.to_id} lost ({why})"
        log.error(self.last_error)
        released = self.sequencer.abandon(gap.sym)
        if len(released):
            self._backfilled.append(released)

    async def reconcile(self, symbols: list[str] | None = None) -> int:
        """Fetch any trades newer than the last released id (the tail a dropped socket may hide).

        Costs one REST call (weight 20) per symbol; returns how many trades it recovered.
        """
        recovered = 0
        for symbol in symbols if symbols is not None else sorted(self.registry.active):
            sym = self.registry.index(symbol)
            if sym is None or sym >= len(self.sequencer.last_id):
                continue
            last = int(self.sequencer.last_id[sym])
            if last < 0:
                continue
            while True:
                rows = await self.rest.agg_trades(symbol, last + 1, ep.AGG_TRADES_MAX_LIMIT)
                released = self.sequencer.fill(parse_agg_trades_rest(rows, sym, self.registry))
                if len(released):
                    self._backfilled.append(released)
                    recovered += len(released)
                if len(rows) < ep.AGG_TRADES_MAX_LIMIT:
                    break
                last = int(self.sequencer.last_id[sym])
        await self.flush()
        return recovered

    # ------------------------------------------------------------------ reading

    def trades(
        self, symbol: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> np.ndarray:
        sym = self.registry.index(symbol)
        if sym is None:
            raise KeyError(f"unknown symbol {symbol!r}")
        return self.buffer.trades(sym, start_ms, end_ms)

    @property
    def store(self) -> Store | None:
        """Read access to the store (None without one): history older than the raw buffer."""
        if self._store is None and self.config.db_path and os.path.exists(self.config.db_path):
            self._store = Store(self.config.db_path)
        return self._store

    def footprint(
        self, symbol: str, start_ms: int, end_ms: int, rules: FootprintRules
    ) -> Footprint:
        """Footprint of [start_ms, end_ms), always from the original trades at tick resolution.

        Minutes still in the raw buffer come from its trades; older minutes come from the
        store's 1-minute tick-level profiles, which hold the same per-tick sums, so the result
        equals a rebuild from the trades themselves for any bin and timeframe.
        """
        sym = self.registry.index(symbol)
        if sym is None:
            raise KeyError(f"unknown symbol {symbol!r}")
        spec = self.registry.spec(sym)
        coverage = self.buffer.coverage(sym)
        store = self.store
        if store is None or (coverage is not None and coverage[0] <= start_ms):
            return footprint_from_records(self.buffer.trades(sym, start_ms, end_ms), spec, rules)
        # The buffer's first minute may be cut: take whole minutes from the buffer only.
        cut = end_ms if coverage is None else -(-coverage[0] // MINUTE_MS) * MINUTE_MS
        cut = min(max(cut, start_ms), end_ms)
        try:
            older = store.load_minute_profile(symbol, start_ms, cut)
        except UnknownSymbolError:
            older = MinuteProfile.empty(spec)
        if not _same_grid(older.spec, spec):
            older = MinuteProfile.empty(spec)  # the grid changed: only the buffer is comparable
        newer = profile_from_records(self.buffer.trades(sym, cut, end_ms), spec)
        profile = MinuteProfile.concat(
            spec, [MinuteProfile(spec, older.levels, older.minutes), newer]
        )
        return footprint_from_profile_rules(profile, rules)

    def history_start(self, symbol: str) -> int | None:
        """Oldest trade time a footprint of this symbol can reach (buffer or store), or None."""
        sym = self.registry.index(symbol)
        if sym is None:
            return None
        coverage = self.buffer.coverage(sym)
        first = coverage[0] if coverage else None
        if self.store is not None:
            cached = self._stored_since.get(symbol)
            if cached is None or time.monotonic() - cached[1] > 60:  # sessions ask often
                try:
                    cached = (self.store.coverage(symbol).first_minute_ms, time.monotonic())
                except UnknownSymbolError:
                    cached = (None, time.monotonic())
                self._stored_since[symbol] = cached
            if cached[0] is not None:
                first = cached[0] if first is None else min(first, cached[0])
        return first

    def status(self) -> EngineStatus:
        conns = self.streams.status()
        stats = self.sequencer.stats
        lat = self.latency_samples()
        filled = len(lat)
        now_ms = time.time() * 1000
        return EngineStatus(
            running=self._running,
            symbols=len(self.registry.active),
            streams=sum(c.streams for c in conns),
            connections=conns,
            connections_up=sum(c.connected for c in conns),
            frames_per_s=self._frames.read(),
            trades_per_s=self._trades.read(),
            lag_ms=(now_ms - self._newest_event_ms) if self._newest_event_ms else None,
            latency_p50_ms=float(np.percentile(lat, 50)) if filled else None,
            latency_p99_ms=float(np.percentile(lat, 99)) if filled else None,
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
            last_error=self.last_error,
        )


def _same_grid(a: ContractSpec, b: ContractSpec) -> bool:
    return Decimal(a.tick_size) == Decimal(b.tick_size) and Decimal(a.step_size) == Decimal(
        b.step_size
    )
