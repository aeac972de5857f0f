"""What travels through the store writer's queue, and how many rows each item holds.

Engine batches (trades, liquidations), ready-made rows of the small event tables, signal rows
(which need the writer's symbol map, so they are made into table rows in its thread) and flush
markers; the writer bounds its memory by `rows_of` every item.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from pipelines.records.batch import EngineBatch


@dataclass(slots=True)
class ReadyRows:
    """Ready-made rows of a small table (big orders, minute imbalances) and their statement."""

    sql: str
    rows: list[tuple]

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(slots=True)
class SignalRows:
    """SIGNAL_DTYPE rows on the registry's grid (`signal_rows.write_signals` stores them)."""

    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


class FlushMarker:
    """A marker: set once everything queued before it is committed."""

    def __init__(self) -> None:
        self.done = threading.Event()

    def __len__(self) -> int:
        return 0


@dataclass(slots=True)
class QuarantinedItem:
    kind: str  # "batch", "trades", "liquidations" or "rows"
    data: object
    rows: int
    error: str


class OwedRange(NamedTuple):
    sym: int  # registry index
    first: int  # aggTrade ids, inclusive
    last: int


def rows_of(item: object) -> int:
    if isinstance(item, EngineBatch):
        return len(item.trades) + len(item.liquidations)
    return len(item)  # type: ignore[arg-type]


def concat_rows(parts: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    parts = [p for p in parts if len(p)]
    if not parts:
        return np.zeros(0, dtype=dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
