"""A liquidity heatmap's numbers, all on integer ticks and steps: bucket and row choice, the
dollar filters, the live samples held until the next one, the best bid/ask and band per
bucket, trades grouped into bubbles, the visible-range volume profile and the colour limits.

The raster itself is `bookhistory.book_raster` (max or last per bucket). A dollar threshold
becomes one integer: a level or trade of `ticks` × `steps` is worth ticks × steps × tick_size ×
step_size dollars, so "at least $X" is "ticks × steps >= ceil(X / (tick_size × step_size))",
exact with no float on the way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from pipelines.analytics.localbook import BookLevels
from pipelines.binance.contracts import ContractSpec

# Time buckets: the live ones (the book sampled at each refresh; a stored second's state holds
# through the second after it), then the ladder used when zoomed out.
LIVE_BUCKETS_MS = (100, 250, 500, 1000)
BUCKETS_MS = (
    100, 250, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000,
    600_000, 900_000, 1_800_000, 3_600_000,
)  # fmt: skip
HISTORY_BUCKET_MS = 1_000
TICK_GROUPS = (1, 2, 5, 10, 25, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000)
_NONE = -1  # no price (no book in that bucket)


def bucket_for(span_ms: float, columns: int, chosen_ms: int) -> int:
    """The bucket for a view of `span_ms` at most about `columns` wide: the chosen live bucket
    or the first of the ladder that keeps the columns within `columns`."""
    need = span_ms / max(columns, 1)
    for bucket in BUCKETS_MS:
        if bucket >= chosen_ms and bucket >= need:
            return bucket
    return BUCKETS_MS[-1]


def group_for(rows_ticks: float, rows: int, chosen: int) -> int:
    """The tick grouping: the chosen one, or the first coarser one of TICK_GROUPS that keeps a
    view of `rows_ticks` ticks within `rows` rows."""
    need = rows_ticks / max(rows, 1)
    for group in TICK_GROUPS:
        if group >= chosen and group >= need:
            return group
    return max(TICK_GROUPS[-1], math.ceil(need))


def min_product(usd: float, spec: ContractSpec) -> int:
    """The least ticks × steps worth `usd` dollars (0: no filter)."""
    if usd <= 0:
        return 0
    unit = Decimal(spec.tick_size) * Decimal(spec.step_size)
    return math.ceil(Decimal(str(usd)) / unit)


def filter_levels(levels: BookLevels, least: int) -> BookLevels:
    """`levels` without the levels worth less than `least` (ticks × steps)."""
    if least <= 0:
        return levels
    sides = [side[side[:, 0] * side[:, 1] >= least] for side in (levels.bids, levels.asks)]
    return BookLevels(sides[0], sides[1], levels.band)


def held_states(
    samples: Sequence[tuple[int, BookLevels]], bucket_ms: int, end_ms: int, hold_ms: int
) -> Iterator[tuple[int, BookLevels]]:
    """Live samples (time taken, book) as `book_raster` states: each sample holds in every
    bucket from its own to the one before the next sample's, or the last one before `end_ms`,
    for at most `hold_ms`. A state for bucket b is stamped b + 1 (book_raster puts a state at
    t into the bucket holding t - 1)."""
    for i, (time, levels) in enumerate(samples):
        until = samples[i + 1][0] if i + 1 < len(samples) else end_ms
        until = min(until, time + hold_ms)
        first = time - time % bucket_ms
        bucket = first
        while bucket == first or bucket < until:
            yield bucket + 1, levels
            bucket += bucket_ms


@dataclass(frozen=True, slots=True)
class Edges:
    """Per bucket (the raster's): best bid, best ask, band low and high in ticks, -1 for none
    (no book, or an open band end). The last state in the bucket gives them."""

    best_bid: np.ndarray
    best_ask: np.ndarray
    band_low: np.ndarray
    band_high: np.ndarray


def edges_per_bucket(
    states: Iterable[tuple[int, BookLevels]], start_ms: int, bucket_ms: int, n_buckets: int
) -> Edges:
    arrays = [np.full(n_buckets, _NONE, dtype=np.int64) for _ in range(4)]
    open_high = np.iinfo(np.int64).max
    for time, levels in states:
        column = (time - 1 - start_ms) // bucket_ms
        if not 0 <= column < n_buckets:
            continue
        low, high = levels.band
        values = (levels.best_bid, levels.best_ask, low if low > 0 else None,
                  high if high < open_high else None)  # fmt: skip
        for array, value in zip(arrays, values, strict=True):
            array[column] = _NONE if value is None else value
    return Edges(*arrays)


@dataclass(frozen=True, slots=True)
class Bubbles:
    """Trades grouped per (bucket, price row, side): bucket start (epoch ms), row's low price
    (ticks), summed quantity (steps) and notional (ticks × steps), `sell` True for sells."""

    time: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    notional: np.ndarray
    sell: np.ndarray


def trade_bubbles(
    trades: np.ndarray, start_ms: int, bucket_ms: int, price_low: int, ticks_per_row: int,
    least: int = 0,
) -> Bubbles:  # fmt: skip
    """Trades (`TRADE_DTYPE` records) of at least `least` ticks × steps each, grouped."""
    t = trades["time"].astype(np.int64)
    price = trades["price"].astype(np.int64)
    qty = trades["qty"].astype(np.int64)
    sell = trades["buyer_maker"].astype(bool)
    keep = (price * qty >= least) & (t >= start_ms)
    t, price, qty, sell = t[keep], price[keep], qty[keep], sell[keep]
    bucket = start_ms + (t - start_ms) // bucket_ms * bucket_ms
    row = price_low + (price - price_low) // ticks_per_row * ticks_per_row
    if len(t) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Bubbles(empty, empty, empty, empty, np.zeros(0, dtype=bool))
    keys = np.column_stack([bucket, row, sell.astype(np.int64)])
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    sums = np.zeros(len(unique), dtype=np.int64)
    np.add.at(sums, inverse, qty)
    notional = np.zeros(len(unique), dtype=np.int64)
    np.add.at(notional, inverse, price * qty)
    return Bubbles(unique[:, 0], unique[:, 1], sums, notional, unique[:, 2].astype(bool))


@dataclass(frozen=True, slots=True)
class Profile:
    """Traded quantity (steps) per price row, buys and sells apart; row j starts at
    price_low + j * ticks_per_row."""

    price_low: int
    ticks_per_row: int
    buys: np.ndarray
    sells: np.ndarray


def volume_profile(
    trades: np.ndarray, price_low: int, n_rows: int, ticks_per_row: int, least: int = 0
) -> Profile:
    """The profile of `trades` (the visible range's) over the rows; trades filtered as the
    bubbles are."""
    price = trades["price"].astype(np.int64)
    qty = trades["qty"].astype(np.int64)
    rows = (price - price_low) // ticks_per_row
    keep = (rows >= 0) & (rows < n_rows) & (price * qty >= least)
    sell = trades["buyer_maker"].astype(bool)
    sides = []
    for side in (~sell, sell):
        chosen = keep & side
        counts = np.bincount(rows[chosen], weights=qty[chosen], minlength=n_rows)
        sides.append(counts.astype(np.int64))  # exact: step counts far below 2**53
    return Profile(price_low, ticks_per_row, sides[0], sides[1])


def colour_limits(
    grids: Iterable[np.ndarray], low_pct: float = 5.0, high_pct: float = 99.0
) -> tuple[int, int] | None:
    """(low, high) quantities (steps) at the percentiles of the non-zero cells of `grids`
    (None: no cell holds anything); high > low so a scale always has a width."""
    values = np.concatenate([g[g > 0].ravel() for g in grids] or [np.zeros(0, np.int64)])
    if len(values) == 0:
        return None
    low, high = np.percentile(values, [low_pct, high_pct], method="lower")
    return int(low), max(int(high), int(low) + 1)
