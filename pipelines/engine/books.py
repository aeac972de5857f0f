"""Local order books for the contracts that need one, and their history.

`BookManager` keeps a `LocalBook` (analytics/localbook.py) for each wanted contract (every open
heatmap, `--books A,B`; at most `max_books`): `<s>@depth@100ms` on `/public` through a
`StreamSet` of its own, so diff frames never mix with the trade path's parser, and REST
snapshots (`limit=1000`, weight 20) one at a time through the engine's `RestClient`, leaving
`reserve_weight` of each minute to gap fills. On a break (a `pu` that is not the previous `u`,
as after a reconnect that missed events) the book is empty until a new snapshot syncs it: the
views show a gap, not a wrong book. Before the price leaves the snapshot's verified band a new snapshot is fetched and a
second book is synced from it and the recent diffs beside the live one, then swapped in, so a
refresh leaves no gap.

Every whole second of exchange time (`T`) each synced book's levels become a `BookSecond`
(changes, keyframes): kept in memory for `memory_s` and sent to the store writer, where they
outlive a restart. `current`, `history` and `raster` are what a heatmap reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from pipelines.analytics.bookhistory import (
    BookRaster,
    BookSecond,
    BookSecondsRecorder,
    book_raster,
    replay,
)
from pipelines.analytics.localbook import BookLevels, LocalBook, PushResult, SyncState
from pipelines.binance import endpoints as ep
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.depth import DepthDiff, parse_depth_diff, parse_depth_snapshot
from pipelines.binance.parsers import FrameRejected, RejectionLog
from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.connection import ConnectionSettings
from pipelines.engine.inbox import FrameInbox
from pipelines.engine.rest import RestClient, RestError
from pipelines.engine.streams import StreamSet
from pipelines.records.timeunits import SECOND_MS
from pipelines.storage.book_rows import book_row
from pipelines.storage.store import Store

log = logging.getLogger(__name__)

MAX_BOOKS = 20
_RECENT_DIFFS = 600  # a minute at 100 ms: what a refresh's second book is synced from
_RETRY_S = (1.0, 2.0, 5.0, 15.0, 30.0)  # between failed snapshot attempts of one contract


@dataclass(frozen=True, slots=True)
class BookView:
    """One contract's current book for a view: levels within the band, on `spec`'s grid."""

    symbol: str
    spec: ContractSpec
    levels: BookLevels
    synced: bool
    time: int  # T of the last applied event (epoch ms)
    update_id: int | None = None  # `u` of the last applied event (None while it resyncs)

    @property
    def best_bid(self) -> int | None:
        return self.levels.best_bid

    @property
    def best_ask(self) -> int | None:
        return self.levels.best_ask

    @property
    def band(self) -> tuple[int, int]:
        return self.levels.band


@dataclass(slots=True)
class _Book:
    symbol: str
    spec: ContractSpec
    book: LocalBook
    recorder: BookSecondsRecorder
    seconds: deque[BookSecond] = field(default_factory=deque)
    recent: deque = field(default_factory=lambda: deque(maxlen=_RECENT_DIFFS))
    candidate: LocalBook | None = None  # a refresh syncing beside the live book
    owners: set[str] = field(default_factory=set)
    failures: int = 0
    retry_at: float = 0.0


class BookManager:
    """The engine's local books; `open`/`close` say which contracts need one."""

    def __init__(
        self,
        rest: RestClient,
        registry: SymbolRegistry,
        ws_base: str,
        *,
        store: Callable[[], Store | None] = lambda: None,
        sink: Callable[[], Callable[[list[tuple]], None] | None] = lambda: None,
        max_books: int = MAX_BOOKS,
        memory_s: int = 600,
        speed_ms: int = 100,
        reserve_weight: int = 480,
        interval_s: float = 0.1,
        settings: ConnectionSettings | None = None,
    ) -> None:
        self.rest = rest
        self.registry = registry
        self.max_books = max_books
        self.memory_s = memory_s
        self.speed_ms = speed_ms
        self.reserve_weight = reserve_weight
        self.interval_s = interval_s
        self.inbox = FrameInbox()
        self.streams = StreamSet(
            ws_base, self.inbox, per_connection=50, settings=settings, label="book-"
        )
        self.rejections = RejectionLog()
        self.snapshots = 0  # fetched
        self.resyncs = 0  # breaks of a live book (each costs a snapshot)
        self.last_error = ""
        self._store = store
        self._sink = sink
        self._books: dict[str, _Book] = {}
        self._wake = asyncio.Event()

    # ------------------------------------------------------------------ which contracts

    @property
    def symbols(self) -> list[str]:
        return sorted(self._books)

    async def open(self, symbol: str, owner: str = "view") -> None:
        """Keep a book of `symbol` while any owner wants it (a heatmap, "cli" for --books).

        ValueError in one line for a contract the engine does not list or past `max_books`.
        """
        entry = self._books.get(symbol)
        if entry is None:
            if symbol not in self.registry.active:
                raise ValueError(f"no order book for {symbol}: not a listed contract")
            if len(self._books) >= self.max_books:
                raise ValueError(
                    f"no order book for {symbol}: {self.max_books} books are open already"
                )
            spec = self.registry.spec(symbol)
            entry = _Book(symbol, spec, LocalBook(), BookSecondsRecorder())
            entry.book.on_second = self._second_sink(entry)
            self._books[symbol] = entry
            await self.streams.add([ep.diff_depth_stream(symbol, self.speed_ms)])
            self._wake.set()
        entry.owners.add(owner)

    async def close(self, symbol: str, owner: str = "view") -> None:
        """`owner` no longer needs the book; the last one out stops it (its history stays)."""
        entry = self._books.get(symbol)
        if entry is None:
            return
        entry.owners.discard(owner)
        if not entry.owners:
            del self._books[symbol]
            await self.streams.remove([ep.diff_depth_stream(symbol, self.speed_ms)])

    # ------------------------------------------------------------------ running

    async def run(self) -> None:
        """Apply the diffs every `interval_s`; fetch the snapshots books need, one at a time."""
        fetcher = asyncio.get_running_loop().create_task(self._fetch_snapshots())
        try:
            while True:
                await asyncio.sleep(self.interval_s)
                self.apply_frames(self.inbox.drain()[0])
        finally:
            fetcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetcher
            await self.streams.stop()

    def apply_frames(self, frames: list[bytes | str]) -> None:
        for frame in frames:
            try:
                message = orjson.loads(frame)
                data = message.get("data", message) if type(message) is dict else None
                if type(data) is not dict or data.get("e") != "depthUpdate":
                    continue  # subscription replies
                entry = self._books.get(data.get("s"))
                if entry is None:
                    continue  # a book closed while its frames were on the way
                self._push(entry, parse_depth_diff(data, entry.spec))
            except (FrameRejected, ValueError, TypeError, AttributeError) as exc:  # JSON too
                self.rejections.add(str(exc) or type(exc).__name__, frame)

    def _push(self, entry: _Book, diff: DepthDiff) -> None:
        entry.recent.append(diff)
        if entry.book.push(diff) is PushResult.OUT_OF_SYNC:
            entry.recorder.reset()  # the next second after the resync is a keyframe
            self.resyncs += 1
            entry.candidate = None
            log.info("%s book out of sync at u=%d; resyncing", entry.symbol, diff.final_id)
            self._wake.set()
        elif entry.candidate is not None:
            entry.candidate.push(diff)
            self._swap_when_ready(entry)
        elif entry.book.near_band_edge():
            self._start_refresh(entry)

    def _start_refresh(self, entry: _Book) -> None:
        """A second book syncs from a new snapshot and the recent diffs beside the live one."""
        entry.candidate = LocalBook()
        for older in entry.recent:
            entry.candidate.push(older)
        self._wake.set()

    def refresh(self, symbol: str) -> bool:
        """Fetch a new snapshot of a synced book now and swap it in as before the price
        leaves the band (operations and tests); False when there is no synced book to refresh
        or a refresh is already under way."""
        entry = self._books.get(symbol)
        if entry is None or not entry.book.synced or entry.candidate is not None:
            return False
        self._start_refresh(entry)
        return True

    def _swap_when_ready(self, entry: _Book) -> None:
        candidate = entry.candidate
        assert candidate is not None
        if candidate.synced and candidate.last_final_id == entry.book.last_final_id:
            candidate.on_second = entry.book.on_second
            entry.book, entry.candidate = candidate, None

    def _needs_snapshot(self, entry: _Book) -> LocalBook | None:
        if entry.book.state is SyncState.NEEDS_SNAPSHOT:
            return entry.book
        if entry.candidate is not None and entry.candidate.state is SyncState.NEEDS_SNAPSHOT:
            return entry.candidate
        return None

    async def _fetch_snapshots(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = [
                (entry, book)
                for entry in list(self._books.values())
                if (book := self._needs_snapshot(entry)) is not None
                and entry.retry_at <= loop.time()
            ]
            if not due:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)
                continue
            for entry, book in due:
                try:
                    await self._snapshot(entry, book, loop.time)
                except Exception as exc:  # an unexpected answer must not end every book's fetches
                    self._failed(entry, loop.time, f"{entry.symbol} book snapshot: {exc!r}")

    async def _snapshot(self, entry: _Book, book: LocalBook, now: Callable[[], float]) -> None:
        params = {"symbol": entry.symbol, "limit": ep.BOOK_SNAPSHOT_LIMIT}
        try:
            body = await self.rest.get(ep.DEPTH_PATH, params, reserve=self.reserve_weight)
            snapshot = parse_depth_snapshot(body, entry.spec)
        except (RestError, FrameRejected, TypeError) as exc:
            self._failed(entry, now, f"{entry.symbol} book snapshot: {exc}")
            return
        self.snapshots += 1
        if self._books.get(entry.symbol) is not entry:
            return  # closed meanwhile
        if book.apply_snapshot(snapshot, ep.BOOK_SNAPSHOT_LIMIT) is PushResult.OUT_OF_SYNC:
            self._failed(entry, now, f"{entry.symbol} book snapshot older than the stream")
            return
        entry.failures = 0
        if book is entry.candidate:
            self._swap_when_ready(entry)

    def _failed(self, entry: _Book, now: Callable[[], float], message: str) -> None:
        self.last_error = message
        log.warning(message)
        entry.retry_at = now() + _RETRY_S[min(entry.failures, len(_RETRY_S) - 1)]
        entry.failures += 1

    def _second_sink(self, entry: _Book) -> Callable[[int, BookLevels], None]:
        def record(time: int, levels: BookLevels) -> None:
            second = entry.recorder.record(time, levels)
            entry.seconds.append(second)
            self._trim(entry, time)
            sink = self._sink()
            if sink is not None:
                sink([book_row(entry.symbol, entry.spec, second)])

        return record

    def _trim(self, entry: _Book, now_ms: int) -> None:
        """Keep `memory_s` of seconds from the keyframe before them (the changes after a
        keyframe need it); trimmed when a keyframe arrives, so about once a minute."""
        seconds = entry.seconds
        if not seconds[-1].keyframe:
            return
        cutoff = now_ms - self.memory_s * SECOND_MS
        keep_from = next(
            (i for i in range(len(seconds) - 1, 0, -1)
             if seconds[i].keyframe and seconds[i].time <= cutoff),
            0,
        )  # fmt: skip
        for _ in range(keep_from):
            seconds.popleft()

    # ------------------------------------------------------------------ reading

    def current(self, symbol: str) -> BookView | None:
        """The book now (None: no book is kept for `symbol`); empty while it resyncs."""
        entry = self._books.get(symbol)
        if entry is None:
            return None
        book = entry.book
        return BookView(
            symbol, entry.spec, book.levels(), book.synced, book.last_time, book.last_final_id
        )

    def history(
        self, symbol: str, start_ms: int, end_ms: int
    ) -> tuple[list[tuple[int, BookLevels]], ContractSpec | None]:
        """The book at the end of every second in [start_ms, end_ms) with a synced book: from
        memory where it reaches, from the store before that; and the grid of the integers."""
        entry = self._books.get(symbol)
        memory = list(entry.seconds) if entry is not None else []
        memory_start = memory[0].time if memory else end_ms
        states: list[tuple[int, BookLevels]] = []
        spec = entry.spec if entry is not None else None
        store = self._store()
        if start_ms < memory_start and store is not None:
            stored, stored_spec = store.load_book(symbol, start_ms, min(end_ms, memory_start))
            if stored_spec is not None and (spec is None or stored_spec == spec):
                states, spec = stored, stored_spec
        states += [(t, lv) for t, lv in replay(memory) if start_ms <= t < end_ms]
        return states, spec

    def raster(
        self,
        symbol: str,
        start_ms: int,
        end_ms: int,
        bucket_ms: int,
        price_low: int,
        price_high: int,
        ticks_per_row: int = 1,
        keep: str = "max",
    ) -> tuple[BookRaster, ContractSpec | None]:
        """`history` as a time × price raster (analytics/bookhistory.py `book_raster`)."""
        states, spec = self.history(symbol, start_ms, end_ms)
        raster = book_raster(
            states, start_ms, end_ms, bucket_ms, price_low, price_high, ticks_per_row, keep
        )
        return raster, spec

    def status(self) -> dict[str, str]:
        """{symbol: state} for the header and the logs."""
        return {s: e.book.state.value for s, e in sorted(self._books.items())}
