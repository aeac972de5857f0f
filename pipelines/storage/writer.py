"""The store's single writer: a dedicated thread with its own connection, fed from asyncio.

`submit` only enqueues, so the event loop never waits on disk. The queue is bounded:
`submit` returns False when it is full (the caller keeps the batch and decides), and
`submit_async` awaits room instead (back-pressure reaches the engine rather than dropping data).
The thread coalesces whatever is queued into one transaction per `commit_interval_s` (or per
queued backlog, whichever holds more), with `executemany` over numpy-prepared rows.

Every write is idempotent (`tables.TradeTable`: trades de-duplicated on symbol and aggTrade id,
only new ones added to the minute rows), so a failed transaction is simply retried:

* `sqlite3.OperationalError` (locked, busy, disk full, I/O) keeps everything pending and retries
  with backoff; meanwhile the queue fills and back-pressure applies. Nothing is dropped.
* Any other error is isolated to the item that causes it; that item is kept in `quarantined()`
  (in memory, with its error) and counted in `status()`, and the thread goes on.
* Rows whose symbol index is not in the registry are quarantined the same way.

Every error is logged and the last one is shown in `status()`. `close(timeout)` drains the
queue, commits and stops; the CLI calls it on SIGINT/SIGTERM.

The module is one piece (~500 lines) on purpose: the queue, the waiters, the transaction loop,
the retry and the quarantine share the thread's state and its locks; what each table receives
lives in `tables.py` and `event_rows.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.binance.registry import SymbolRegistry
from pipelines.records.batch import EngineBatch
from pipelines.records.dtypes import LIQUIDATION_DTYPE, TRADE_DTYPE
from pipelines.storage.event_rows import (
    INSERT_BIG_ORDERS,
    UPSERT_IMBALANCES,
    big_order_rows,
    imbalance_rows,
)
from pipelines.storage.retention import Pruner, Retention
from pipelines.storage.schema import connect
from pipelines.storage.symbols import SymbolMap
from pipelines.storage.tables import TradeTable, write_liquidations

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 2.0
_PRUNE_BUDGET_S = 0.02


@dataclass(frozen=True, slots=True)
class WriterStatus:
    running: bool
    queue_depth: int
    queue_capacity: int
    batches_written: int  # queued items committed
    transactions: int
    trades_written: int  # new trade rows
    duplicates_ignored: int  # trades already stored (or repeated within the input)
    stale_dropped: int  # below the checkpoint, older than the raw window: cannot be verified new
    rows_written: int  # every table, minute upserts included
    pruned_rows: int
    rejected_submits: int  # `submit` calls refused because the queue was full
    quarantined_items: int
    quarantined_rows: int
    errors: int
    retrying: bool  # the last transaction failed transiently and is being retried
    last_error: str | None
    last_error_ms: int | None
    last_write_ms: float  # latency of the last transaction
    mean_write_ms: float
    max_write_ms: float


@dataclass(slots=True)
class _Rows:
    """Ready-made rows of a small table (big orders, minute imbalances)."""

    sql: str
    rows: list[tuple]

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(slots=True)
class QuarantinedItem:
    kind: str  # "batch", "trades", "liquidations" or "rows"
    data: object
    rows: int
    error: str


class _Flush:
    """A marker: set once everything queued before it is committed."""

    def __init__(self) -> None:
        self.done = threading.Event()

    def __len__(self) -> int:
        return 0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class StoreWriter:
    """Writes engine batches (trades, liquidations) and analytics results to the SQLite store."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        registry: SymbolRegistry,
        *,
        retention: Retention | None = None,
        max_queue: int = 256,
        commit_interval_s: float = 0.25,
        max_txn_rows: int = 50_000,
        busy_timeout_ms: int = 5000,
        clock: Callable[[], int] = _now_ms,
        quarantine_keep: int = 100,
    ) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        self.path = path
        self.registry = registry
        self.retention = retention or Retention()
        self._commit_interval = float(commit_interval_s)
        self._max_txn_rows = int(max_txn_rows)
        self._clock = clock
        # Opened here so that a bad path or a too-new schema fails in the caller, not the thread.
        self._conn = connect(path, busy_timeout_ms=busy_timeout_ms, check_same_thread=False)
        self._symbols = SymbolMap(self._conn)
        self._trades = TradeTable(self._conn, self._symbols, clock, self.retention.trades_ms)
        self._pruner = Pruner(self._conn, self.retention, clock)
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._capacity = max_queue
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = deque()
        self._waiters_lock = threading.Lock()
        self._closing = threading.Event()
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._started = False
        self._pending_rows = 0
        self._quarantine: deque[QuarantinedItem] = deque(maxlen=quarantine_keep)
        self._stats_lock = threading.Lock()
        self._counts = dict.fromkeys(
            (
                "batches_written", "transactions", "trades_written", "duplicates_ignored",
                "stale_dropped", "rows_written", "rejected_submits", "quarantined_items",
                "quarantined_rows", "errors",
            ),
            0,
        )  # fmt: skip
        self._retrying = False
        self._last_error: str | None = None
        self._last_error_ms: int | None = None
        self._latency = {"last": 0.0, "total": 0.0, "max": 0.0}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> StoreWriter:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def __enter__(self) -> StoreWriter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout: float = 30.0) -> bool:
        """Drain the queue, commit and stop the thread. True when everything was written.

        If the store keeps failing past `timeout`, the thread stops retrying and the rows
        still pending are reported (logged, and in `status()`); they cannot be kept past exit.
        """
        self._closing.set()
        self._wake_waiters()
        if not self._started:
            self._conn.close()
            return self._queue.empty()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_Flush())  # wakes an idle thread at once
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abandon.set()
            self._thread.join(5.0)
        lost = self._pending_rows + self._queued_rows()
        if lost:
            log.error("store writer stopped with %d rows not written: %s", lost, self._last_error)
        return not self._thread.is_alive() and lost == 0

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is committed (or quarantined)."""
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(timeout)

    # ------------------------------------------------------------------ submission

    def submit(self, batch: EngineBatch) -> bool:
        """Enqueue a batch without blocking; False when the queue is full (nothing enqueued)."""
        if not (len(batch.trades) or len(batch.liquidations)):
            return True
        return self._offer(batch)

    async def submit_async(self, batch: EngineBatch) -> None:
        """Enqueue a batch, awaiting room in the queue (never drops, never blocks the loop)."""
        if not (len(batch.trades) or len(batch.liquidations)):
            return
        await self._offer_async(batch)

    def submit_big_orders(self, orders: pd.DataFrame | np.ndarray) -> bool:
        """Enqueue detected big orders; columns as in `big_orders` (see docs/storage.md).

        Raises ValueError for missing columns or bad sides; False when the queue is full.
        """
        item = self._big_orders_item(orders)
        return self._offer(item) if item.rows else True

    async def submit_big_orders_async(self, orders: pd.DataFrame | np.ndarray) -> None:
        """`submit_big_orders`, awaiting room in the queue instead of refusing."""
        item = self._big_orders_item(orders)
        if item.rows:
            await self._offer_async(item)

    def submit_imbalances(self, minutes: pd.DataFrame | np.ndarray) -> bool:
        """Enqueue imbalance minutes: symbol (or sym), timestamp, bid/ask volume, ratio."""
        item = self._imbalances_item(minutes)
        return self._offer(item) if item.rows else True

    async def submit_imbalances_async(self, minutes: pd.DataFrame | np.ndarray) -> None:
        """`submit_imbalances`, awaiting room in the queue instead of refusing."""
        item = self._imbalances_item(minutes)
        if item.rows:
            await self._offer_async(item)

    def _big_orders_item(self, orders: pd.DataFrame | np.ndarray) -> _Rows:
        return _Rows(INSERT_BIG_ORDERS, big_order_rows(orders, self.registry))

    def _imbalances_item(self, minutes: pd.DataFrame | np.ndarray) -> _Rows:
        return _Rows(UPSERT_IMBALANCES, imbalance_rows(minutes, self.registry))

    def _offer(self, item: object) -> bool:
        if self._closing.is_set():
            raise RuntimeError("the store writer is closed")
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._count(rejected_submits=1)
            return False
        return True

    async def _offer_async(self, item: object) -> None:
        loop = asyncio.get_running_loop()
        while not self._offer(item):
            future = loop.create_future()
            with self._waiters_lock:
                self._waiters.append((loop, future))
            # Room may have appeared before we registered; the writer wakes us on any later take.
            if self._offer(item):
                return
            await future
            if self._closing.is_set():
                raise RuntimeError("the store writer is closed")

    def _wake_waiters(self) -> None:
        with self._waiters_lock:
            waiters, self._waiters = self._waiters, deque()
        for loop, future in waiters:
            # A closed loop has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future)

    # ------------------------------------------------------------------ status

    def status(self) -> WriterStatus:
        with self._stats_lock:
            counts = dict(self._counts)
            lat = dict(self._latency)
            transactions = counts["transactions"]
            return WriterStatus(
                running=self._thread.is_alive(),
                queue_depth=self._queue.qsize(),
                queue_capacity=self._capacity,
                pruned_rows=sum(self._pruner.pruned.values()),
                retrying=self._retrying,
                last_error=self._last_error,
                last_error_ms=self._last_error_ms,
                last_write_ms=lat["last"],
                mean_write_ms=lat["total"] / transactions if transactions else 0.0,
                max_write_ms=lat["max"],
                **counts,
            )

    def quarantined(self) -> list[QuarantinedItem]:
        """Items (or rows) that could not be written, with their errors (most recent kept)."""
        return list(self._quarantine)

    def _count(self, **increments: int) -> None:
        with self._stats_lock:
            for key, value in increments.items():
                self._counts[key] += value

    def _record_error(self, exc: BaseException, *, transient: bool) -> None:
        text = f"{type(exc).__name__}: {exc}"
        with self._stats_lock:
            self._counts["errors"] += 1
            self._last_error = text
            self._last_error_ms = _now_ms()
            self._retrying = transient
        if transient:
            log.warning("store write failed, will retry: %s", text)
        else:
            log.error("store write failed: %s", text, exc_info=exc)

    def _queued_rows(self) -> int:
        with self._queue.mutex:
            return sum(_rows_of(item) for item in self._queue.queue)

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        pending: list[object] = []
        opened = 0.0
        backoff = 0.0
        try:
            while True:
                if backoff and self._abandon.wait(backoff):
                    break
                try:
                    if not backoff:
                        opened = self._gather(pending, opened)
                    if pending and self._commit_due(pending, opened, backoff):
                        if self._write_all(pending):
                            backoff = 0.0
                            self._prune_step()
                        else:
                            backoff = min(max(2 * backoff, 0.05), _MAX_BACKOFF_S)
                    elif not pending:
                        backoff = 0.0
                        if self._closing.is_set() and self._queue.empty():
                            break
                        self._prune_step()
                except Exception as exc:  # a fault of this code: report it, keep the data, go on
                    self._record_error(exc, transient=False)
                    backoff = _MAX_BACKOFF_S
        finally:
            self._conn.close()
            self._wake_waiters()

    def _gather(self, pending: list[object], opened: float) -> float:
        """Take queued items; returns when the current transaction window opened."""
        if pending:
            wait = self._commit_interval - (time.monotonic() - opened)
        else:
            opened = time.monotonic()
            wait = 0.0 if self._pruner.due() else self._commit_interval
        if self._closing.is_set():
            wait = 0.0
        self._take(pending, max(wait, 0.0))
        return opened

    def _take(self, pending: list[object], wait: float) -> None:
        """Move queued items into `pending`: wait for one, then take what is already there."""
        try:
            item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
        except queue.Empty:
            return
        rows = self._pending_rows
        while True:
            item = self._sanitize(item)
            pending.append(item)
            rows += _rows_of(item)
            if rows >= self._max_txn_rows or isinstance(item, _Flush):
                break
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
        self._pending_rows = rows
        self._wake_waiters()

    def _commit_due(self, pending: list[object], opened: float, backoff: float) -> bool:
        return (
            bool(backoff)
            or self._closing.is_set()
            or isinstance(pending[-1], _Flush)
            or self._pending_rows >= self._max_txn_rows
            or time.monotonic() - opened >= self._commit_interval
        )

    def _write_all(self, pending: list[object]) -> bool:
        """Write `pending` (emptied on success); False when a transient error asks for a retry."""
        work = [item for item in pending if not isinstance(item, _Flush)]
        try:
            if work:
                self._write(work)
        except sqlite3.OperationalError as exc:
            self._record_error(exc, transient=True)
            return False
        except Exception as exc:  # isolate the item that fails; the thread goes on
            self._record_error(exc, transient=False)
            if not self._write_each(pending):
                return False
        else:
            self._count(batches_written=len(work))
        with self._stats_lock:
            self._retrying = False
        for item in pending:
            if isinstance(item, _Flush):
                item.done.set()
        pending.clear()
        self._pending_rows = 0
        return True

    def _write_each(self, pending: list[object]) -> bool:
        """One transaction per item; written or quarantined items leave `pending`."""
        for item in [item for item in pending if not isinstance(item, _Flush)]:
            try:
                self._write([item])
                self._count(batches_written=1)
            except sqlite3.OperationalError as exc:
                self._record_error(exc, transient=True)
                return False
            except Exception as exc:
                self._record_error(exc, transient=False)
                self._quarantine_item(
                    "batch" if isinstance(item, EngineBatch) else "rows", item, exc
                )
            pending.remove(item)
            self._pending_rows -= _rows_of(item)
        return True

    def _quarantine_item(self, kind: str, data: object, exc: BaseException | str) -> None:
        rows = _rows_of(data) if not isinstance(data, np.ndarray) else len(data)
        self._quarantine.append(QuarantinedItem(kind, data, rows, str(exc)))
        self._count(quarantined_items=1, quarantined_rows=rows)
        log.error("store writer quarantined %d %s rows: %s", rows, kind, exc)

    def _prune_step(self) -> None:
        """Prune chunks for up to `_PRUNE_BUDGET_S` (steps over symbols with nothing old are cheap)."""
        deadline = time.perf_counter() + _PRUNE_BUDGET_S
        try:
            while self._pruner.due() and time.perf_counter() < deadline:
                self._pruner.step()
        except sqlite3.Error as exc:  # retried on the next pass; writes go on
            self._record_error(exc, transient=True)

    # ------------------------------------------------------------------ one transaction

    def _write(self, items: list[object]) -> None:
        batches = [item for item in items if isinstance(item, EngineBatch)]
        trades = _concat([b.trades for b in batches], TRADE_DTYPE)
        liqs = _concat([b.liquidations for b in batches], LIQUIDATION_DTYPE)
        self._symbols.resolve(self.registry, np.unique(trades["sym"]))
        started = time.perf_counter()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            fresh, written, dups, stale = self._trades.write(trades)
            written += write_liquidations(conn, self.registry, liqs)
            for item in items:
                if isinstance(item, _Rows):
                    conn.executemany(item.sql, item.rows)
                    written += len(item.rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        elapsed = (time.perf_counter() - started) * 1000
        self._trades.advance(fresh)
        self._count(
            transactions=1,
            trades_written=len(fresh[0]),
            duplicates_ignored=dups,
            stale_dropped=stale,
            rows_written=written,
        )
        with self._stats_lock:
            self._latency["last"] = elapsed
            self._latency["total"] += elapsed
            self._latency["max"] = max(self._latency["max"], elapsed)

    def _sanitize(self, item: object) -> object:
        """The item without rows whose symbol index is not in the registry (quarantined once)."""
        if not isinstance(item, EngineBatch):
            return item
        fixed = {}
        for kind in ("trades", "liquidations"):
            rows = getattr(item, kind)
            ok = self.registry.known(rows)
            if not ok.all():
                unknown = sorted(set(rows["sym"][~ok].tolist()))[:10]
                self._quarantine_item(
                    kind, rows[~ok], f"symbol index not in the registry: {unknown}"
                )
                fixed[kind] = rows[ok]
        return dataclasses.replace(item, **fixed) if fixed else item


def _concat(parts: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    parts = [p for p in parts if len(p)]
    if not parts:
        return np.zeros(0, dtype=dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def _rows_of(item: object) -> int:
    if isinstance(item, EngineBatch):
        return len(item.trades) + len(item.liquidations)
    return len(item)  # type: ignore[arg-type]
