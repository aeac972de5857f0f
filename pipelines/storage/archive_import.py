"""data.binance.vision daily aggTrades files into the store, exactly once.

For each (contract, UTC day): the file comes from `pipelines.binance.vision` (downloaded with
its CHECKSUM and verified, or a local mirror's file checked against its CHECKSUM), is read by
`pipelines.binance.archive` (with or without the header row) and goes through the `StoreWriter`
like live batches: trades and 1-minute tick profiles, de-duplicated on aggregate id, so
overlapping the live history or an earlier import adds nothing twice. A day is recorded in
`imported_files` once its trades are committed: a rerun skips it, and an interrupted run redoes
only the day it was in (the writer drops what that day had already committed).

The grid of a contract is the exchange's (when given), else the store's, else the first file's
own decimals; a file with prices or quantities finer than that grid is refused, never rounded.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np

from pipelines.analytics.tradeframe import contract_spec, frame_records
from pipelines.binance import vision
from pipelines.binance.archive import read_agg_trades_csv
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.batch import EngineBatch
from pipelines.records.timeunits import SECOND_MS
from pipelines.storage.retention import Retention
from pipelines.storage.schema import connect
from pipelines.storage.symbols import read_specs
from pipelines.storage.writer import StoreWriter

log = logging.getLogger(__name__)

_CHUNK = 200_000  # trades per writer item
_RETRY_S = 0.05  # wait for room in the writer's queue


class ImportFileError(ValueError):
    """One file that cannot be imported (bad checksum, unreadable, off the grid), in a line."""


@dataclass(slots=True)
class ImportReport:
    files: int = 0  # files imported in this run
    skipped: int = 0  # (contract, day) already imported earlier
    missing: list[str] = field(default_factory=list)  # no file in the archive for that day
    errors: list[str] = field(default_factory=list)
    trades_read: int = 0
    trades_written: int = 0
    seconds: float = 0.0

    @property
    def trades_per_second(self) -> float:
        return self.trades_read / self.seconds if self.seconds else 0.0


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """UTC days from start to end, both inclusive."""
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    return [start + dt.timedelta(days=k) for k in range((end - start).days + 1)]


def import_archive(
    base: str,
    symbols: list[str],
    days: list[dt.date],
    db: str | Path,
    *,
    specs: dict[str, ContractSpec] | None = None,
    cache: str | Path | None = None,
    retention: Retention | None = None,
    progress: Callable[[int, int, ImportReport], None] | None = None,
) -> ImportReport:
    """Import every (symbol, day) file below `base` into the store at `db`."""
    report = ImportReport()
    started = time.monotonic()
    cache = Path(cache) if cache else Path(tempfile.gettempdir()) / "orderflow-archive"
    retention = retention or Retention(trades_ms=0, minutes_ms=0)
    registry = SymbolRegistry()
    conn = connect(db)
    try:
        done = _imported(conn)
        stored = {spec.symbol: spec for spec in read_specs(conn).values()}
        with StoreWriter(db, registry, retention=retention) as writer:
            todo = [(s, d) for s in symbols for d in days]
            for k, (symbol, day) in enumerate(todo):
                if (symbol, day.isoformat()) in done:
                    report.skipped += 1
                else:
                    try:
                        _import_day(base, symbol, day, cache, registry, writer, report, conn,
                                    (specs or {}).get(symbol) or stored.get(symbol))  # fmt: skip
                    except ImportFileError as exc:
                        report.errors.append(str(exc))
                        log.error("%s", exc)
                report.seconds = time.monotonic() - started
                if progress is not None:
                    progress(k + 1, len(todo), report)
            report.trades_written = writer.status().trades_written
    finally:
        conn.close()
    report.seconds = time.monotonic() - started
    return report


def _import_day(
    base: str,
    symbol: str,
    day: dt.date,
    cache: Path,
    registry: SymbolRegistry,
    writer: StoreWriter,
    report: ImportReport,
    conn: sqlite3.Connection,
    grid: ContractSpec | None,
) -> None:
    name = vision.day_file_name(symbol, day)
    try:
        path = vision.fetch_day(base, symbol, day, cache)
        if path is None:
            report.missing.append(name)
            return
        frame = read_agg_trades_csv(path)
    except (vision.ArchiveError, ValueError, OSError) as exc:
        raise ImportFileError(f"{name}: refused ({exc})") from None
    if len(frame) == 0:
        _record(conn, symbol, day, path, 0)
        return
    if symbol not in registry:
        registry.add(grid or _grid_of(frame, symbol))
    sym = registry.index(symbol)
    spec = registry.spec(sym)
    _check_grid(frame, spec, name)
    _, records = frame_records(frame, spec=spec, sym=sym)
    records = records[np.argsort(records["agg_id"], kind="stable")]
    for chunk in _chunks(records):
        while not writer.submit(EngineBatch(seq=0, created_ms=0, trades=chunk)):
            time.sleep(_RETRY_S)  # the writer's queue is full: it commits at disk speed
    if not writer.flush():
        raise ImportFileError(f"{name}: the store did not commit ({writer.status().last_error})")
    _record(conn, symbol, day, path, len(records))
    report.files += 1
    report.trades_read += len(records)


def _record(conn: sqlite3.Connection, symbol: str, day: dt.date, path: Path, n: int) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO imported_files (symbol, day, sha256, trades, imported_ms) "
        "VALUES (?, ?, ?, ?, ?)",
        (symbol, day.isoformat(), vision.sha256_of(path), n, int(time.time() * SECOND_MS)),
    )


def _grid_of(frame, symbol: str) -> ContractSpec:
    """The grid of a contract no exchange or store describes: the file's own decimals."""
    log.warning("%s: no exchange grid given and not in the store: grid from the file", symbol)
    return contract_spec(frame, symbol=symbol)


def _check_grid(frame, spec: ContractSpec, name: str) -> None:
    own = contract_spec(frame, symbol=spec.symbol)
    for what, size, grid in (
        ("prices", own.tick_size, spec.tick_size),
        ("quantities", own.step_size, spec.step_size),
    ):
        if len(frame) and Decimal(size) % Decimal(grid) != 0:
            raise ImportFileError(
                f"{name}: refused: {what} in steps of {size}, finer than the grid {grid} "
                "(the contract's grid changed since; import it into another store)"
            )


def _chunks(records: np.ndarray) -> Iterator[np.ndarray]:
    for lo in range(0, len(records), _CHUNK):
        yield records[lo : lo + _CHUNK]


def _imported(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    return {(s, d) for s, d in conn.execute("SELECT symbol, day FROM imported_files")}
