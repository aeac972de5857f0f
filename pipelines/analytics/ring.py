"""Bounded history of structured rows stamped with increasing sequence numbers.

The UI streams only what is new: it remembers the last sequence number it showed and asks for
the rows after it. When the history is full the oldest rows go first.
"""

from __future__ import annotations

import numpy as np


class SequencedRing:
    """A ring of at most `capacity` rows of `dtype`; row k appended gets sequence number k (1..)."""

    def __init__(self, dtype: np.dtype, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.dtype = np.dtype(dtype)
        self.capacity = int(capacity)
        self._rows = np.zeros(self.capacity, dtype=self.dtype)
        self._head = 0  # slot of the oldest row
        self._len = 0
        self.last_seq = 0

    def __len__(self) -> int:
        return self._len

    @property
    def first_seq(self) -> int:
        """Sequence number of the oldest row held (last_seq + 1 when empty)."""
        return self.last_seq - self._len + 1

    def append(self, rows: np.ndarray) -> int:
        """Add rows in order; returns the sequence number of the last one."""
        rows = np.asarray(rows, dtype=self.dtype)
        n = len(rows)
        if n == 0:
            return self.last_seq
        self.last_seq += n
        if n >= self.capacity:
            self._rows[:] = rows[-self.capacity :]
            self._head, self._len = 0, self.capacity
            return self.last_seq
        tail = (self._head + self._len) % self.capacity
        slots = (tail + np.arange(n)) % self.capacity
        self._rows[slots] = rows
        overflow = max(0, self._len + n - self.capacity)
        self._head = (self._head + overflow) % self.capacity
        self._len = min(self.capacity, self._len + n)
        return self.last_seq

    def since(self, seq: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Rows with a sequence number above `seq`, oldest first, and their sequence numbers."""
        skip = min(self._len, max(0, int(seq) - self.first_seq + 1))
        slots = (self._head + np.arange(skip, self._len)) % self.capacity
        return self._rows[slots], self.first_seq + np.arange(skip, self._len, dtype=np.int64)

    def at(self, seq: int) -> np.ndarray | None:
        """The row numbered `seq` (a one-row array), or None when it is not held."""
        if not self.first_seq <= int(seq) <= self.last_seq:
            return None
        slot = (self._head + int(seq) - self.first_seq) % self.capacity
        return self._rows[slot : slot + 1].copy()

    def drop_before(self, field: str, cutoff: int | float) -> int:
        """Drop the oldest rows while their `field` is below `cutoff`; returns how many."""
        rows, _ = self.since(0)
        keep = np.flatnonzero(rows[field] >= cutoff)
        n_drop = int(keep[0]) if len(keep) else self._len
        self._head = (self._head + n_drop) % self.capacity
        self._len -= n_drop
        return n_drop
