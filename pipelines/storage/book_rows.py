"""The `book_seconds` table: a book's history, one row per contract and second, compactly.

A row holds a `BookSecond` (pipelines.analytics.bookhistory): the levels changed since the
second before, or the whole book on a keyframe, as one blob of int64s: the counts of bid and
ask rows, then per side the prices as differences from the previous price (small numbers) and
the quantities, compressed with zlib. Keyframes also carry the grid (tick and step size) the
integers are on; the change rows after them are on the same grid (a book opened again after a
grid change starts with a keyframe on the new one).
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterable, Iterator

import numpy as np

from pipelines.analytics.bookhistory import BookSecond
from pipelines.binance.contracts import ContractSpec

INSERT_BOOK_SECONDS = (
    "INSERT OR IGNORE INTO book_seconds (symbol, time, keyframe, band_low, band_high, "
    "tick_size, step_size, levels) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_SELECT = (
    "SELECT time, keyframe, band_low, band_high, tick_size, step_size, levels FROM book_seconds "
    "WHERE symbol = ? AND time >= ? AND time < ? ORDER BY time"
)
_LAST_KEYFRAME = (
    "SELECT max(time) FROM book_seconds WHERE symbol = ? AND time <= ? AND keyframe = 1"
)
_ZLIB_LEVEL = 1  # level 1 already takes most of the gain, at a fraction of the CPU


def encode_levels(bids: np.ndarray, asks: np.ndarray) -> bytes:
    """Two (n, 2) int64 sides, ascending by price, as one compressed blob."""
    parts = [np.array([len(bids), len(asks)], dtype=np.int64)]
    for side in (bids, asks):
        parts += [np.diff(side[:, 0], prepend=0), side[:, 1]]
    return zlib.compress(np.concatenate(parts).astype("<i8").tobytes(), _ZLIB_LEVEL)


def decode_levels(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    values = np.frombuffer(zlib.decompress(blob), dtype="<i8").astype(np.int64)
    n_bids, n_asks = int(values[0]), int(values[1])
    sides, at = [], 2
    for n in (n_bids, n_asks):
        prices = np.cumsum(values[at : at + n])
        sides.append(np.column_stack([prices, values[at + n : at + 2 * n]]))
        at += 2 * n
    return sides[0], sides[1]


def book_row(symbol: str, spec: ContractSpec, second: BookSecond) -> tuple:
    """One `INSERT_BOOK_SECONDS` row (the writer's `submit_book_seconds` takes a list)."""
    grid = (spec.tick_size, spec.step_size) if second.keyframe else (None, None)
    return (
        symbol,
        second.time,
        int(second.keyframe),
        *second.band,  # an open end is int64's max, which SQLite's integers hold
        *grid,
        encode_levels(second.bids, second.asks),
    )


def read_book_seconds(
    conn: sqlite3.Connection, symbol: str, start_ms: int, end_ms: int
) -> Iterator[tuple[ContractSpec, BookSecond]]:
    """The rows that rebuild [start_ms, end_ms): from the last keyframe at or before
    `start_ms`, each with the grid of the keyframe it follows (None before any keyframe)."""
    first = conn.execute(_LAST_KEYFRAME, (symbol, start_ms)).fetchone()[0]
    from_ms = start_ms if first is None else int(first)
    spec: ContractSpec | None = None
    for time, keyframe, low, high, tick, step, blob in _rows(
        conn.execute(_SELECT, (symbol, from_ms, end_ms))
    ):
        if keyframe:
            spec = ContractSpec(symbol, tick, step)
        if spec is None:
            continue  # a change row before the first keyframe: nothing to apply it to
        bids, asks = decode_levels(blob)
        yield spec, BookSecond(int(time), bool(keyframe), (int(low), int(high)), bids, asks)


def _rows(cursor: sqlite3.Cursor, size: int = 512) -> Iterable[tuple]:
    while chunk := cursor.fetchmany(size):
        yield from chunk
