"""The store's single writer: a dedicated thread with its own connection, fed from asyncio.

`submit` only enqueues, so the event loop never waits on disk. The queue is bounded:
`submit` returns False when it is full (the caller keeps the batch and decides), and
`submit_async` awaits room instead (back-pressure reaches the engine rather than dropping data).
The thread coalesces whatever is queued into one transaction per `commit_interval_s` (or per
queued backlog, whichever holds more), with `executemany` over numpy-prepared rows.

Every write is idempotent: trades are de-duplicated on (symbol, aggTrade id) against the batch
itself, the in-memory checkpoint and, below it, the table, and only trades that are new reach
the minute profiles and bars, whose upserts add. A failed transaction is therefore simply
retried:

* `sqlite3.OperationalError` (locked, busy, disk full, I/O) keeps everything pending and retries
  with backoff; meanwhile the queue fills and back-pressure applies. Nothing is dropped.
* Any other error is isolated to the item that causes it; that item is kept in `quarantined()`
  (in memory, with its error) and counted in `status()`, and the thread goes on.
* Rows whose symbol index is not in the registry are quarantined the same way.

Every error is logged and the last one is shown in `status()`. `close(timeout)` drains the
queue, commits and stops; the CLI calls it on SIGINT/SIGTERM.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.analytics.bigorders import ORDER_COLUMNS
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.batch import EngineBatch
from pipelines.records.dtypes import LIQUIDATION_DTYPE, TRADE_DTYPE
from pipelines.storage.minutes import UPSERT_BAR, UPSERT_PROFILE, minute_rows
from pipelines.storage.retention import Pruner, Retention
from pipelines.storage.schema import connect
from pipelines.storage.symbols import SymbolMap

log = logging.getLogger(__name__)

_INSERT_TRADES = (
    "INSERT OR IGNORE INTO trade_rows (sym_id, agg_trade_id, price_ticks, qty_steps, "
    "transact_time, is_buyer_maker, first_trade_id, last_trade_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_CHECKPOINT = (
    "UPDATE symbols SET last_agg_id = max(coalesce(last_agg_id, -1), ?), "
    "last_trade_time = max(coalesce(last_trade_time, 0), ?) WHERE id = ?"
)
_INSERT_LIQUIDATIONS = (
    "INSERT OR IGNORE INTO liquidations (symbol, timestamp, side, price, quantity, is_forced, "
    "notional, event_time) VALUES (?, ?, ?, ?, ?, 1, ?, ?)"
)
_BIG_ORDER_COLUMNS = ORDER_COLUMNS[1:]  # the detector's columns after "symbol"
_BIG_ORDER_OPTIONAL = ("trades", "adv", "pct_adv")
_INSERT_BIG_ORDERS = (
    f"INSERT OR IGNORE INTO big_orders (symbol, {', '.join(_BIG_ORDER_COLUMNS)}) "
    f"VALUES ({', '.join('?' * (len(_BIG_ORDER_COLUMNS) + 1))})"
)
_UPSERT_IMBALANCES = (
    "INSERT INTO order_imbalances (symbol, timestamp, bid_volume, ask_volume, imbalance_ratio) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (symbol, timestamp) DO UPDATE SET "
    "bid_volume = excluded.bid_volume, ask_volume = excluded.ask_volume, "
    "imbalance_ratio = excluded.imbalance_ratio"
)
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
        self._last_agg = self._load_checkpoints()
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
        return _Rows(_INSERT_BIG_ORDERS, _big_order_rows(_as_frame(orders), self.registry))

    def _imbalances_item(self, minutes: pd.DataFrame | np.ndarray) -> _Rows:
        cols = ("timestamp", "bid_volume", "ask_volume", "imbalance_ratio")
        rows = _symbol_rows(_as_frame(minutes), self.registry, cols, (int, float, float, float))
        return _Rows(_UPSERT_IMBALANCES, rows)

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
            fresh, written, dups, stale = self._write_trades(trades)
            written += self._write_liquidations(liqs)
            for item in items:
                if isinstance(item, _Rows):
                    conn.executemany(item.sql, item.rows)
                    written += len(item.rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        elapsed = (time.perf_counter() - started) * 1000
        self._advance_checkpoints(fresh)
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

    def _write_trades(self, trades: np.ndarray) -> tuple[tuple[np.ndarray, ...], int, int, int]:
        """Insert the trades not stored yet and add them to the minute rows.

        Returns ((sym_id, agg_id, time) of the new trades, rows written, duplicates, stale).
        """
        empty = np.zeros(0, np.int64)
        if len(trades) == 0:
            return (empty, empty, empty), 0, 0, 0
        sym = trades["sym"]
        sid = self._symbols.ids[sym]
        agg = trades["agg_id"]
        order = np.lexsort((agg, sid))
        sid, agg = sid[order], agg[order]
        keep = np.ones(len(order), dtype=bool)
        keep[1:] = (sid[1:] != sid[:-1]) | (agg[1:] != agg[:-1])
        if not keep.all():
            order, sid, agg = order[keep], sid[keep], agg[keep]
        t = trades[order]
        sym = t["sym"]
        new = agg > self._checkpoint(sid)
        stale = 0
        if not new.all():
            new, stale = self._not_stored(sid, agg, t["time"], new)
        dups = len(trades) - int(new.sum()) - stale
        t, sid, agg = t[new], sid[new], agg[new]
        if len(t) == 0:
            return (empty, empty, empty), 0, dups, stale
        # The store keeps each symbol on its own first grid (SymbolMap): rescale to it.
        t["price"] *= self._symbols.price_factor[sym[new]]
        t["qty"] *= self._symbols.qty_factor[sym[new]]
        price, qty, time_ms, bm = t["price"], t["qty"], t["time"], t["buyer_maker"]
        conn = self._conn
        conn.executemany(
            _INSERT_TRADES,
            _params(
                sid, agg, price, qty, time_ms, bm.astype(np.int64), t["first_id"], t["last_id"]
            ),
        )
        profiles, bars = minute_rows(sid, t)
        conn.executemany(UPSERT_PROFILE, _params(*profiles.T))
        conn.executemany(UPSERT_BAR, _params(*bars.T))
        # Per symbol: the rows are sorted by (sid, agg), so the last of each run is its maximum.
        last = np.flatnonzero(np.append(sid[1:] != sid[:-1], True))
        conn.executemany(_UPDATE_CHECKPOINT, _params(agg[last], time_ms[last], sid[last]))
        written = len(t) + len(profiles) + len(bars)
        return (sid, agg, time_ms), written, dups, stale

    def _not_stored(
        self, sid: np.ndarray, agg: np.ndarray, time_ms: np.ndarray, new: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """Settle trades at or below the checkpoint against the table (holes being filled)."""
        new = new.copy()
        old = np.flatnonzero(~new)
        cutoff = self._clock() - self.retention.trades_ms
        stale = 0
        for s in np.unique(sid[old]).tolist():
            idx = old[sid[old] == s]
            lo, hi = int(agg[idx].min()), int(agg[idx].max())
            stored = np.fromiter(
                (
                    r[0]
                    for r in self._conn.execute(
                        "SELECT agg_trade_id FROM trade_rows "
                        "WHERE sym_id = ? AND agg_trade_id BETWEEN ? AND ?",
                        (s, lo, hi),
                    )
                ),
                dtype=np.int64,
            )
            absent = idx[~np.isin(agg[idx], stored)]
            # Absent and older than the raw window: it may have been stored and pruned, and its
            # volume is already in the minute rows. It cannot be told apart, so it is not added.
            too_old = time_ms[absent] < cutoff
            stale += int(too_old.sum())
            new[absent[~too_old]] = True
        if stale:
            log.warning(
                "store writer dropped %d trades below the checkpoint outside the raw window", stale
            )
        return new, stale

    def _checkpoint(self, sid: np.ndarray) -> np.ndarray:
        top = int(sid.max()) + 1
        if top > len(self._last_agg):
            self._last_agg = np.concatenate(
                [self._last_agg, np.full(top - len(self._last_agg), -1, np.int64)]
            )
        return self._last_agg[sid]

    def _advance_checkpoints(self, fresh: tuple[np.ndarray, ...]) -> None:
        sid, agg, _ = fresh
        if len(sid):
            self._checkpoint(sid)
            np.maximum.at(self._last_agg, sid, agg)

    def _load_checkpoints(self) -> np.ndarray:
        rows = self._conn.execute("SELECT id, last_agg_id FROM symbols").fetchall()
        top = max((r[0] for r in rows), default=0) + 1
        out = np.full(top, -1, dtype=np.int64)
        for sid, last in rows:
            if last is not None:
                out[sid] = last
        return out

    def _write_liquidations(self, liqs: np.ndarray) -> int:
        if len(liqs) == 0:
            return 0
        names = np.array(self.registry.symbols, dtype=object)[liqs["sym"]]
        side = np.where(liqs["long_liquidated"], "SELL", "BUY").astype(object)
        rows = _params(
            names,
            liqs["time"],
            side,
            liqs["price"],
            liqs["qty"],
            liqs["notional"],
            liqs["event_time"],
        )
        self._conn.executemany(_INSERT_LIQUIDATIONS, rows)
        return len(liqs)


def _params(*columns: np.ndarray) -> Iterator[tuple]:
    """Rows for executemany, made column by column (several times faster than a 2-D tolist)."""
    return zip(*(np.asarray(c).tolist() for c in columns), strict=True)


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


def _as_frame(data: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, np.ndarray) and data.dtype.names:
        return pd.DataFrame({name: data[name] for name in data.dtype.names})
    raise ValueError(f"expected a DataFrame or a structured array, got {type(data).__name__}")


def _symbols_of(frame: pd.DataFrame, registry: SymbolRegistry) -> list[str]:
    if "symbol" in frame.columns:
        return frame["symbol"].astype(str).tolist()
    if "sym" not in frame.columns:
        raise ValueError("rows need a `symbol` column (or `sym`, a registry index)")
    idx = frame["sym"].to_numpy()
    bad = ~np.asarray(registry.known(frame))
    if bad.any():
        raise ValueError(
            f"symbol indices not in the registry: {sorted(set(idx[bad].tolist()))[:10]}"
        )
    return [registry.symbol(i) for i in idx.tolist()]


def _require(frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"rows lack the columns {missing}")


def _symbol_rows(
    frame: pd.DataFrame, registry: SymbolRegistry, columns: tuple[str, ...], kinds: tuple[type, ...]
) -> list[tuple]:
    _require(frame, columns)
    symbols = _symbols_of(frame, registry)
    values = [
        [kind(v) for v in frame[col].tolist()] for col, kind in zip(columns, kinds, strict=True)
    ]
    return list(zip(symbols, *values, strict=True))


def _big_order_rows(frame: pd.DataFrame, registry: SymbolRegistry) -> list[tuple]:
    # bigflow's TAKER_ORDER_DTYPE names two columns differently.
    frame = frame.rename(columns={"qty": "quantity"})
    if "side" not in frame.columns and "is_buy" in frame.columns:
        frame = frame.assign(side=np.where(frame["is_buy"].astype(bool), "BUY", "SELL"))
    _require(frame, tuple(c for c in _BIG_ORDER_COLUMNS if c not in _BIG_ORDER_OPTIONAL))
    sides = frame["side"].astype(str).str.upper()
    if not sides.isin(("BUY", "SELL")).all():
        raise ValueError("big order side must be BUY or SELL (or an is_buy column)")

    def column(name: str, kind: type) -> list:
        if name not in frame.columns:
            return [None] * len(frame)
        return [None if pd.isna(v) else kind(v) for v in frame[name].tolist()]

    return list(
        zip(
            _symbols_of(frame, registry),
            column("time", int),
            sides.tolist(),
            *(column(c, float) for c in ("quantity", "vwap", "first_price", "last_price")),
            column("fills", int),
            column("trades", int),
            *(column(c, float) for c in ("notional", "adv", "pct_adv")),
            column("first_agg_id", int),
            column("last_agg_id", int),
            strict=True,
        )
    )
