"""The store's single writer: a dedicated thread with its own connection, fed from asyncio.

`submit` only enqueues and never refuses, so the live path never waits on the store. The
rows waiting in memory are bounded (`max_owed_rows`): past the bound a batch's trades are not
kept, their aggTrade id range is owed instead (`owed.OwedRanges`), for the engine to backfill
from REST once the store writes again. The thread coalesces whatever is queued into one
transaction per `commit_interval_s` (or per queued backlog, whichever holds more), with
`executemany` over numpy-prepared rows.

Every write is idempotent (`tables.TradeTable`: trades de-duplicated on symbol and aggTrade id,
only new ones added to the minute rows), so a failed transaction is simply retried:

* `sqlite3.OperationalError` (locked, busy, disk full, I/O) keeps everything pending and retries
  with backoff; `status().fault` names it ("disk full"). Meanwhile batches queue up to the
  bound, then become owed ranges. Nothing is dropped silently.
* Any other error is isolated to the item that causes it; that item is kept in `quarantined()`
  (in memory, with its error) and counted in `status()`, and the thread goes on.
* Rows whose symbol index is not in the registry are quarantined the same way.

Every error is logged and the last one is shown in `status()`. `close(timeout)` drains the
queue, commits and stops; the CLI calls it on SIGINT/SIGTERM.

The module is one piece (~550 lines) on purpose: the queue, the owed rows, the transaction loop,
the retry and the quarantine share the thread's state and its locks; what the queue carries is
in `queue_items.py`, what each table receives in `tables.py`, `event_rows.py` and
`signal_rows.py`.
"""

from __future__ import annotations

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

from pipelines.analytics.signals import SIGNAL_DTYPE
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.batch import EngineBatch
from pipelines.records.dtypes import LIQUIDATION_DTYPE, TRADE_DTYPE
from pipelines.storage.book_rows import INSERT_BOOK_SECONDS
from pipelines.storage.event_rows import (
    INSERT_BIG_ORDERS,
    UPSERT_IMBALANCES,
    big_order_rows,
    imbalance_rows,
)
from pipelines.storage.faults import fault_name
from pipelines.storage.owed import OwedRanges, load_owed, owed_file, save_owed
from pipelines.storage.queue_items import (
    FlushMarker,
    OwedRange,
    QuarantinedItem,
    ReadyRows,
    SignalRows,
    concat_rows,
    rows_of,
)
from pipelines.storage.retention import Pruner, Retention
from pipelines.storage.schema import DEFAULT_CACHE_MB, connect, write_transaction
from pipelines.storage.signal_rows import signal_records, write_signals
from pipelines.storage.symbols import SymbolMap
from pipelines.storage.tables import TradeTable, write_liquidations

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 2.0
_PRUNE_BUDGET_S = 0.02
_FAULT_LOG_EVERY_S = 30.0  # while the store keeps failing, one reminder this often


@dataclass(frozen=True, slots=True)
class WriterStatus:
    running: bool
    queue_depth: int  # items queued for the thread
    waiting_rows: int  # rows in memory not written yet (bounded by `max_owed_rows`)
    owed_trades: int  # trades not held any more, owed as id ranges for a REST backfill
    fault: str | None  # what stops writes now, in plain words ("disk full"), None when writing
    lost_rows: int  # event rows past twice the bound, dropped (REST cannot give them back)
    batches_written: int  # queued items committed
    transactions: int
    trades_written: int  # new trade rows
    duplicates_ignored: int  # trades already stored (or repeated within the input)
    stale_dropped: int  # below the checkpoint, older than the raw window: cannot be verified new
    rows_written: int  # every table, minute upserts included
    pruned_rows: int
    quarantined_items: int
    quarantined_rows: int
    errors: int
    retrying: bool  # the last transaction failed transiently and is being retried
    last_error: str | None
    last_error_ms: int | None
    last_write_ms: float  # latency of the last transaction
    mean_write_ms: float
    max_write_ms: float


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
        max_owed_rows: int = 1_000_000,
        commit_interval_s: float = 0.25,
        max_txn_rows: int = 50_000,
        busy_timeout_ms: int = 5000,
        clock: Callable[[], int] = _now_ms,
        quarantine_keep: int = 100,
        cache_mb: int = DEFAULT_CACHE_MB,
    ) -> None:
        if max_owed_rows < 1:
            raise ValueError(f"max_owed_rows must be >= 1, got {max_owed_rows}")
        self.path = path
        self.registry = registry
        self.retention = retention or Retention()
        self._commit_interval = float(commit_interval_s)
        self._max_txn_rows = int(max_txn_rows)
        self._clock = clock
        # Opened here so that a bad path or a too-new schema fails in the caller, not the thread.
        self._conn = connect(
            path, busy_timeout_ms=busy_timeout_ms, check_same_thread=False, cache_mb=cache_mb
        )
        self._symbols = SymbolMap(self._conn)
        self._trades = TradeTable(self._conn, self._symbols, clock, self.retention.trades_ms)
        self._pruner = Pruner(self._conn, self.retention, clock)
        self._queue: queue.Queue = queue.Queue()  # bounded by rows, in `_accept`
        self._max_owed = int(max_owed_rows)
        self._waiting = 0  # rows submitted and not yet written, quarantined or owed
        self._owed = OwedRanges()
        self._owed_file = owed_file(path)
        self._owe_what_a_previous_run_left()
        self._closing = threading.Event()
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._started = False
        self._pending: list[object] = []  # the thread's current transaction
        self._pending_rows = 0
        self._quarantine: deque[QuarantinedItem] = deque(maxlen=quarantine_keep)
        self._stats_lock = threading.Lock()
        self._counts = dict.fromkeys(
            (
                "batches_written", "transactions", "trades_written", "duplicates_ignored",
                "stale_dropped", "rows_written", "lost_rows", "quarantined_items",
                "quarantined_rows", "errors",
            ),
            0,
        )  # fmt: skip
        self._retrying = False
        self._fault: str | None = None
        self._fault_since = 0.0
        self._fault_logged = 0.0
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

        If the store keeps failing past `timeout`, the thread stops retrying; the trades it
        could not write become owed ranges, and every range still owed is recorded beside the
        database (`owed.owed_file`) for the next run to backfill. Other rows still pending
        (liquidations, analytics) are reported (logged, and in `status()`).
        """
        self._closing.set()
        if not self._started:
            self._conn.close()
            self._owe_unwritten()
            self._record_owed()
            return not self._owed and self._waiting_rows() == 0
        self._queue.put_nowait(FlushMarker())  # wakes an idle thread at once
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abandon.set()
            self._thread.join(5.0)
        if not self._thread.is_alive():
            self._owe_unwritten()
        lost = self._waiting_rows()
        if lost:
            log.error("store writer stopped with %d rows not written: %s", lost, self._last_error)
        owed = bool(self._owed)
        self._record_owed()
        return not self._thread.is_alive() and lost == 0 and not owed

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is committed (or quarantined)."""
        marker = FlushMarker()
        self._queue.put_nowait(marker)
        return marker.done.wait(timeout)

    # ------------------------------------------------------------------ submission

    def submit(self, batch: EngineBatch) -> None:
        """Enqueue a batch without blocking and without refusing (past the bound, see `owed`)."""
        if len(batch.trades) or len(batch.liquidations):
            # Only what the store writes is held: while rows wait (a full disk) a whole batch
            # would keep its books and tickers alive too, ~100 MB over a 3-minute episode.
            self._accept(dataclasses.replace(batch, tickers=batch.tickers[:0], books=[]))

    def submit_big_orders(self, orders: pd.DataFrame | np.ndarray) -> None:
        """Enqueue detected big orders; columns as in `big_orders` (see docs/storage.md).

        Raises ValueError for missing columns or bad sides.
        """
        item = ReadyRows(INSERT_BIG_ORDERS, big_order_rows(orders, self.registry))
        if item.rows:
            self._accept(item)

    def submit_imbalances(self, minutes: pd.DataFrame | np.ndarray) -> None:
        """Enqueue imbalance minutes: symbol (or sym), timestamp, bid/ask volume, ratio."""
        item = ReadyRows(UPSERT_IMBALANCES, imbalance_rows(minutes, self.registry))
        if item.rows:
            self._accept(item)

    def submit_signals(self, signals: np.ndarray | pd.DataFrame) -> None:
        """Enqueue order-flow signals (SIGNAL_DTYPE rows, registry indices and grid); one
        already stored is ignored. Raises ValueError for missing fields or bad indices."""
        item = SignalRows(signal_records(signals, self.registry))
        if len(item):
            self._accept(item)

    def submit_book_seconds(self, rows: list[tuple]) -> None:
        """Enqueue book history rows (`book_rows.book_row`); a second stored before is ignored."""
        if rows:
            self._accept(ReadyRows(INSERT_BOOK_SECONDS, rows))

    def owed(self) -> list[OwedRange]:
        """The trade ranges owed (not held in memory), without taking them."""
        return [OwedRange(*r) for r in self._owed.ranges()]

    def take_owed(self) -> list[OwedRange]:
        """Owed trade ranges, removed: the caller backfills them (`submit`) or `restore_owed`s."""
        return [OwedRange(*r) for r in self._owed.take()]

    def restore_owed(self, sym: int, first: int, last: int) -> None:
        """Owe a range again (a backfill that could not fetch all of it)."""
        self._owed.restore(sym, first, last)

    def _owe_what_a_previous_run_left(self) -> None:
        try:
            left = load_owed(self._owed_file)
        except ValueError as exc:
            log.error("owed ranges not read (%s): a backfill of them will not happen", exc)
            return
        for symbol, (first, last) in left.items():
            sym = self.registry.index(symbol)
            if sym is None:
                log.warning("%s trades %d..%d owed by the last run: not listed now, not "
                            "backfilled", symbol, first, last)  # fmt: skip
                continue
            self._owed.restore(sym, first, last)
            log.info("%s trades %d..%d owed by the last run: to backfill", symbol, first, last)

    def _owe_unwritten(self) -> None:
        """Trades the stopped thread could not write become owed ranges (REST still has them)."""
        items = self._pending
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        for item in items:
            if isinstance(item, EngineBatch) and len(item.trades):
                self._owed.add(item.trades[self.registry.known(item.trades)])
                self._settled(len(item.trades))
        items.clear()

    def _record_owed(self) -> None:
        """Keep what is owed for the next run (beside the database), or say what is lost."""
        ranges = {self.registry.symbol(r.sym): (r.first, r.last) for r in self.owed()}
        try:
            save_owed(self._owed_file, ranges)
        except OSError as exc:
            for symbol, (first, last) in ranges.items():
                log.error(
                    "store writer stopped owing %s trades %d..%d, not recorded (%s: %s): lost "
                    "unless above the store's last id (the restart gap refetches those)",
                    symbol, first, last, self._owed_file, exc.strerror or exc,
                )  # fmt: skip
            return
        for symbol, (first, last) in ranges.items():
            log.warning("store writer stopped owing %s trades %d..%d: recorded in %s for the "
                        "next start", symbol, first, last, self._owed_file)  # fmt: skip

    def _accept(self, item: object) -> None:
        if self._closing.is_set():
            raise RuntimeError("the store writer is closed")
        rows = rows_of(item)
        with self._stats_lock:
            over = self._waiting + rows > self._max_owed
            if over and isinstance(item, EngineBatch) and len(item.trades):
                # Past the bound the trades are owed by id (REST has them), not held.
                self._owed.add(item.trades)
                item = dataclasses.replace(item, trades=item.trades[:0])
                rows = len(item.liquidations)
            if rows and self._waiting + rows > 2 * self._max_owed:
                # Events REST cannot give back; the bound still holds, and the loss is counted.
                self._counts["lost_rows"] += rows
                log.error("store writer dropped %d event rows: %d rows already waiting", rows,
                          self._waiting)  # fmt: skip
                return
            self._waiting += rows
        if rows:
            self._queue.put_nowait(item)

    def _settled(self, rows: int) -> None:
        """Rows left memory: written, quarantined or dropped as not new."""
        with self._stats_lock:
            self._waiting -= rows

    # ------------------------------------------------------------------ status

    def status(self) -> WriterStatus:
        with self._stats_lock:
            counts = dict(self._counts)
            lat = dict(self._latency)
            transactions = counts["transactions"]
            return WriterStatus(
                running=self._thread.is_alive(),
                queue_depth=self._queue.qsize(),
                waiting_rows=self._waiting,
                owed_trades=self._owed.ids(),
                fault=self._fault,
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
        now = time.monotonic()
        with self._stats_lock:
            self._counts["errors"] += 1
            self._last_error = text
            self._last_error_ms = _now_ms()
            self._retrying = transient
            fault = fault_name(exc) if transient else None
            first = fault is not None and fault != self._fault
            remind = fault is not None and now - self._fault_logged >= _FAULT_LOG_EVERY_S
            if fault is not None and self._fault is None:
                self._fault_since = now
            self._fault = fault
            waiting = self._waiting + self._owed.ids()
        if first or remind:
            self._fault_logged = now
            log.warning(
                "store %s (%s): %d trades waiting, retrying; ingestion goes on from memory",
                fault, text, waiting,
            )  # fmt: skip
        elif not transient:
            log.error("store write failed: %s", text, exc_info=exc)

    def _recovered(self) -> None:
        with self._stats_lock:
            fault, self._fault, self._retrying = self._fault, None, False
            waiting = self._waiting + self._owed.ids()
        if fault is not None:
            log.warning(
                "store writes again after %.0f s of %s; %d trades still to write",
                time.monotonic() - self._fault_since, fault, waiting,
            )  # fmt: skip

    def _waiting_rows(self) -> int:
        with self._stats_lock:
            return self._waiting

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        pending = self._pending
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
            rows += rows_of(item)
            if rows >= self._max_txn_rows or isinstance(item, FlushMarker):
                break
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
        self._pending_rows = rows

    def _commit_due(self, pending: list[object], opened: float, backoff: float) -> bool:
        return (
            bool(backoff)
            or self._closing.is_set()
            or isinstance(pending[-1], FlushMarker)
            or self._pending_rows >= self._max_txn_rows
            or time.monotonic() - opened >= self._commit_interval
        )

    def _write_all(self, pending: list[object]) -> bool:
        """Write `pending` (emptied on success); False when a transient error asks for a retry."""
        work = [item for item in pending if not isinstance(item, FlushMarker)]
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
            self._settled(self._pending_rows)
        self._recovered()
        for item in pending:
            if isinstance(item, FlushMarker):
                item.done.set()
        pending.clear()
        self._pending_rows = 0
        return True

    def _write_each(self, pending: list[object]) -> bool:
        """One transaction per item; written or quarantined items leave `pending`."""
        for item in [item for item in pending if not isinstance(item, FlushMarker)]:
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
            self._pending_rows -= rows_of(item)
            self._settled(rows_of(item))
        return True

    def _quarantine_item(self, kind: str, data: object, exc: BaseException | str) -> None:
        rows = rows_of(data) if not isinstance(data, np.ndarray) else len(data)
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
        trades = concat_rows([b.trades for b in batches], TRADE_DTYPE)
        liqs = concat_rows([b.liquidations for b in batches], LIQUIDATION_DTYPE)
        signals = concat_rows([i.rows for i in items if isinstance(i, SignalRows)], SIGNAL_DTYPE)
        self._symbols.resolve(self.registry, np.unique(np.r_[trades["sym"], signals["sym"]]))
        started = time.perf_counter()
        conn = self._conn
        with write_transaction(conn):
            fresh, written, dups, stale = self._trades.write(trades)
            written += write_liquidations(conn, self.registry, liqs)
            written += write_signals(conn, self._symbols, signals)
            for item in items:
                if isinstance(item, ReadyRows):
                    conn.executemany(item.sql, item.rows)
                    written += len(item.rows)
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
                self._settled(int((~ok).sum()))
                fixed[kind] = rows[ok]
        return dataclasses.replace(item, **fixed) if fixed else item
