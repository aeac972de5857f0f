"""Book imbalance of partial-depth books: how much resting size leans to the bid or the ask;
and the imbalance ratio both it and the trade flow use.

Book imbalance = (bid - ask) / (bid + ask) of resting base quantity, over the top N levels of
each side, and over the levels within +-x bps of the mid price. Partial depth carries at most 20
levels a side, so a wide band on a thin book only sees those levels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain

import numpy as np
import pandas as pd

from pipelines.binance.registry import SymbolRegistry
from pipelines.records.batch import BookTop


def imbalance_ratio(buy: np.ndarray, sell: np.ndarray) -> np.ndarray:
    """(buy - sell) / (buy + sell); NaN where both are zero."""
    buy = np.asarray(buy, dtype=np.float64)
    sell = np.asarray(sell, dtype=np.float64)
    total = buy + sell
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (buy - sell) / total, np.nan)


def _side_matrices(books: Sequence[BookTop], bids: bool) -> tuple[np.ndarray, np.ndarray]:
    """Price and quantity of one side of many books: one row per book, in the order received,
    padded with zero quantity (an empty level). One numpy conversion for all the books: per
    book, the calls cost far more than the arithmetic."""
    sides = [book.bids if bids else book.asks for book in books]
    counts = np.fromiter(map(len, sides), np.int64, len(sides)) // 2
    try:
        values = np.fromiter(map(float, chain.from_iterable(sides)), np.float64).reshape(-1, 2)
        ok = len(values) == counts.sum()  # no side of an odd length
    except (ValueError, TypeError):
        ok = False
    if not ok:  # a malformed side somewhere: each book's own arrays (a malformed side is empty)
        pairs = [(b.bid_price, b.bid_qty) if bids else (b.ask_price, b.ask_qty) for b in books]
        counts = np.array([len(p) for p, _ in pairs], dtype=np.int64)
        values = np.column_stack(
            [np.concatenate([p for p, _ in pairs]), np.concatenate([q for _, q in pairs])]
        )
    rows = np.repeat(np.arange(len(books)), counts)
    cols = np.arange(len(values)) - np.repeat(np.cumsum(counts) - counts, counts)
    shape = (len(books), int(counts.max(initial=0)))
    price, qty = np.zeros(shape), np.zeros(shape)
    price[rows, cols], qty[rows, cols] = values[:, 0], values[:, 1]
    return price, qty


def _row_sums(values: np.ndarray) -> np.ndarray:
    """Left-to-right sums per row: the same whatever zero padding follows."""
    return np.cumsum(values, axis=1)[:, -1] if values.shape[1] else np.zeros(len(values))


def book_imbalance_arrays(
    books: Sequence[BookTop], levels: int, band_bps: float
) -> tuple[np.ndarray, np.ndarray]:
    """(top-`levels` imbalance, band imbalance) of each book; see the functions below."""
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    if not band_bps > 0:
        raise ValueError(f"band_bps must be positive, got {band_bps}")
    if not books:
        return np.zeros(0), np.zeros(0)
    sides = []
    for bids in (True, False):
        price, qty = _side_matrices(books, bids)
        live = qty > 0
        # Best level first (highest bid, lowest ask), empty levels last.
        order = np.argsort(np.where(live, -price if bids else price, np.inf), axis=1, kind="stable")
        price, live = np.take_along_axis(price, order, 1), np.take_along_axis(live, order, 1)
        sides.append((price, np.where(live, np.take_along_axis(qty, order, 1), 0.0), live))
    (bp, bq, b_live), (ap, aq, a_live) = sides
    top = imbalance_ratio(_row_sums(bq[:, :levels]), _row_sums(aq[:, :levels]))
    if bp.shape[1] == 0 or ap.shape[1] == 0:
        return top, np.full(len(books), np.nan)
    mid = (bp[:, :1] + ap[:, :1]) / 2.0
    low, high = mid * (1.0 - band_bps / 1e4), mid * (1.0 + band_bps / 1e4)
    band = imbalance_ratio(
        _row_sums(np.where(bp >= low, bq, 0.0)), _row_sums(np.where(ap <= high, aq, 0.0))
    )
    # No mid without a level on both sides.
    return top, np.where(b_live[:, 0] & a_live[:, 0], band, np.nan)


def book_imbalance(book: BookTop, levels: int = 10) -> float:
    """(bid - ask) / (bid + ask) of the quantity on the best `levels` levels of each side."""
    return float(book_imbalance_arrays([book], levels, 10.0)[0][0])


def book_band_imbalance(book: BookTop, band_bps: float = 10.0) -> float:
    """(bid - ask) / (bid + ask) of the quantity within +-band_bps of the mid; NaN when either
    side is empty (no mid)."""
    return float(book_imbalance_arrays([book], 1, band_bps)[1][0])


def book_imbalances(
    books: Iterable[BookTop], registry: SymbolRegistry, *, levels: int = 10, band_bps: float = 10.0
) -> pd.DataFrame:
    """Book imbalance of the latest book of each contract among `books`."""
    latest: dict[int, BookTop] = {}
    for book in books:
        if book.sym not in latest or book.event_time >= latest[book.sym].event_time:
            latest[book.sym] = book
    syms = sorted(latest)
    top, band = book_imbalance_arrays([latest[s] for s in syms], levels, band_bps)
    return pd.DataFrame(
        {
            "symbol": [registry.symbol(s) for s in syms],
            "event_time": np.array([latest[s].event_time for s in syms], dtype=np.int64),
            "book_imbalance": top,
            "band_imbalance": band,
        }
    )
