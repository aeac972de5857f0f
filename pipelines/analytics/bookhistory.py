"""A book's history: one state per whole second, kept as changes, and read back as a raster.

`BookSecondsRecorder` turns the states a `LocalBook` reports at each second's end into
`BookSecond`s: the levels that changed since the previous second (quantity 0: the level is gone,
or left the band), or the whole book (a keyframe) every `keyframe_s` seconds of exchange time
and after every break, so a reader can start at any keyframe without replaying hours.
`replay` turns them back into whole books; `book_raster` buckets those into a price × time grid
for a heatmap. A second with no row is a second without a synced book: it is a gap, never
filled from the state before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from pipelines.analytics.localbook import BookLevels
from pipelines.records.timeunits import SECOND_MS

KEYFRAME_S = 60
_NO_LEVELS = np.zeros((0, 2), dtype=np.int64)


@dataclass(frozen=True, slots=True)
class BookSecond:
    """The book at `time` (a second's end, epoch ms): whole (`keyframe`) or as the changes
    since the second before; each side (n, 2) int64 (price ticks, quantity steps) by price."""

    time: int
    keyframe: bool
    band: tuple[int, int]
    bids: np.ndarray
    asks: np.ndarray


def side_changes(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The levels of `after` that differ from `before`, and `before`'s gone ones with qty 0."""
    # Both are ascending without repeats: a sort and a dedupe give their union (np.union1d's
    # hash-based unique cost about 0.5 ms a side, a fifth of a book's CPU, on numpy 2.4).
    prices = np.concatenate([before[:, 0], after[:, 0]])
    prices.sort()
    prices = prices[np.r_[True, prices[1:] != prices[:-1]]] if len(prices) else prices
    old = np.zeros(len(prices), dtype=np.int64)
    new = np.zeros(len(prices), dtype=np.int64)
    old[np.searchsorted(prices, before[:, 0])] = before[:, 1]
    new[np.searchsorted(prices, after[:, 0])] = after[:, 1]
    changed = old != new
    return np.column_stack([prices[changed], new[changed]])


def apply_side_changes(side: np.ndarray, changes: np.ndarray) -> np.ndarray:
    """`side` with `changes` applied (the inverse of `side_changes`)."""
    if len(changes) == 0:
        return side
    kept = side[~np.isin(side[:, 0], changes[:, 0])]
    merged = np.concatenate([kept, changes[changes[:, 1] > 0]])
    return merged[np.argsort(merged[:, 0], kind="stable")]


class BookSecondsRecorder:
    """One contract's seconds, as `BookSecond`s ready to store."""

    def __init__(self, keyframe_s: int = KEYFRAME_S) -> None:
        if keyframe_s < 1:
            raise ValueError(f"keyframe_s must be at least 1, got {keyframe_s}")
        self.keyframe_s = keyframe_s
        self._last: tuple[int, BookLevels] | None = None

    def reset(self) -> None:
        """After a break: the next second is a keyframe."""
        self._last = None

    def record(self, time: int, levels: BookLevels) -> BookSecond:
        last, self._last = self._last, (time, levels)
        # Keyframes on whole multiples of keyframe_s (the same seconds for every contract), so
        # a reader looks back at most keyframe_s seconds from any start.
        if (
            last is None
            or last[0] != time - SECOND_MS
            or (time // SECOND_MS) % self.keyframe_s == 0
        ):
            return BookSecond(time, True, levels.band, levels.bids, levels.asks)
        before = last[1]
        return BookSecond(
            time,
            False,
            levels.band,
            side_changes(before.bids, levels.bids),
            side_changes(before.asks, levels.asks),
        )


def replay(seconds: Iterable[BookSecond]) -> Iterator[tuple[int, BookLevels]]:
    """(time, whole book) of every second from the first keyframe on, in time order; after a
    missing second nothing is yielded until the next keyframe."""
    state: BookLevels | None = None
    last_time = 0
    for second in seconds:
        if second.keyframe:
            state = BookLevels(second.bids, second.asks, second.band)
        elif state is not None and second.time == last_time + SECOND_MS:
            state = BookLevels(
                apply_side_changes(state.bids, second.bids),
                apply_side_changes(state.asks, second.asks),
                second.band,
            )
        else:
            state = None  # a gap: the change set has nothing to apply to
        last_time = second.time
        if state is not None:
            yield second.time, state


@dataclass(frozen=True, slots=True)
class BookRaster:
    """Resting quantity (steps) per time bucket and price row, time-major.

    `bids[i, j]` / `asks[i, j]`: bucket `times[i]` (its start, epoch ms) and rows of
    `ticks_per_row` ticks from `price_low + j * ticks_per_row`; `covered[i]` is False for a
    bucket without any second of a synced book (a gap, drawn as one).
    """

    times: np.ndarray
    price_low: int
    ticks_per_row: int
    bids: np.ndarray
    asks: np.ndarray
    covered: np.ndarray


def book_raster(
    states: Iterable[tuple[int, BookLevels]],
    start_ms: int,
    end_ms: int,
    bucket_ms: int,
    price_low: int,
    price_high: int,
    ticks_per_row: int = 1,
    keep: str = "max",
) -> BookRaster:
    """Bucket whole books (`replay`'s output) into a raster over [start_ms, end_ms) and the
    prices [price_low, price_high]. A state at time t (a second's end) belongs to the bucket
    holding t - 1. `keep`: "max" (the largest quantity in the bucket: short-lived walls stay
    visible) or "last" (the bucket's last state)."""
    if keep not in ("max", "last"):
        raise ValueError(f"keep must be 'max' or 'last', not {keep!r}")
    if bucket_ms <= 0 or ticks_per_row <= 0 or price_high < price_low:
        raise ValueError("bucket_ms and ticks_per_row must be positive, price_high >= price_low")
    n_times = max(0, -(-(end_ms - start_ms) // bucket_ms))
    n_rows = (price_high - price_low) // ticks_per_row + 1
    bids = np.zeros((n_times, n_rows), dtype=np.int64)
    asks = np.zeros((n_times, n_rows), dtype=np.int64)
    covered = np.zeros(n_times, dtype=bool)
    for time, levels in states:
        column = (time - 1 - start_ms) // bucket_ms
        if not 0 <= column < n_times:
            continue
        for grid, side in ((bids, levels.bids), (asks, levels.asks)):
            rows = (side[:, 0] - price_low) // ticks_per_row
            inside = (rows >= 0) & (rows < n_rows)
            sums = np.bincount(rows[inside], weights=side[inside, 1], minlength=n_rows)
            sums = sums.astype(np.int64)  # exact: step counts far below 2**53
            if keep == "last":
                grid[column] = sums
            else:
                np.maximum(grid[column], sums, out=grid[column])
        covered[column] = True
    times = start_ms + bucket_ms * np.arange(n_times, dtype=np.int64)
    return BookRaster(times, price_low, ticks_per_row, bids, asks, covered)
