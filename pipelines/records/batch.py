"""The micro-batch that travels through the engine's streamz graph to every consumer."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipelines.records.dtypes import LIQUIDATION_DTYPE, TICKER_DTYPE, TRADE_DTYPE


def _empty(dtype: np.dtype) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


# One side's levels as received, flattened: (price, qty, price, qty, ...), decimal strings on
# the wire. A tuple of strings is not tracked by the garbage collector, so books kept for a
# while cost no collector time (the wire's nested lists, kept, made every collection slower).
Levels = tuple


def _side(levels: Levels) -> tuple[np.ndarray, np.ndarray]:
    try:
        arr = np.array(levels, dtype=np.float64).reshape(-1, 2)
    except (ValueError, TypeError):
        # A malformed level list reads as an empty side (no imbalance), not as an error in
        # every ranking that reads this book.
        return np.zeros(0), np.zeros(0)
    return arr[:, 0].copy(), arr[:, 1].copy()


@dataclass(slots=True)
class BookTop:
    """Top-of-book levels of one contract (a partial-depth frame or a REST depth answer).

    `bids` and `asks` are kept as received (flattened, see `Levels`); the float arrays are made
    on first read and kept.
    600 contracts push 1,200 books a second and most are replaced before anything reads them,
    so converting every one on arrival was the engine's largest cost.
    """

    sym: int
    event_time: int
    bids: Levels
    asks: Levels
    last_update_id: int = 0
    _arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = field(
        default=None, repr=False, compare=False
    )

    def _levels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self._arrays is None:
            self._arrays = (*_side(self.bids), *_side(self.asks))
        return self._arrays

    @property
    def bid_price(self) -> np.ndarray:
        return self._levels()[0]

    @property
    def bid_qty(self) -> np.ndarray:
        return self._levels()[1]

    @property
    def ask_price(self) -> np.ndarray:
        return self._levels()[2]

    @property
    def ask_qty(self) -> np.ndarray:
        return self._levels()[3]


@dataclass(slots=True)
class EngineBatch:
    """Everything the engine accepted during one batching interval (~50-100 ms).

    `trades` are exactly-once and, per symbol, in increasing `agg_id` order: duplicates were
    dropped and gaps were filled from REST before the batch was emitted.
    """

    seq: int
    created_ms: int  # wall clock when the batch was emitted
    exchange_ms: int = 0  # newest event time received so far: the exchange's clock as seen here
    # Event time every live socket had delivered up to when the batch was taken (the slowest
    # socket's clock): a trade stamped well before it is in this batch or an earlier one.
    settled_ms: int = 0
    trades: np.ndarray = field(default_factory=lambda: _empty(TRADE_DTYPE))
    liquidations: np.ndarray = field(default_factory=lambda: _empty(LIQUIDATION_DTYPE))
    tickers: np.ndarray = field(default_factory=lambda: _empty(TICKER_DTYPE))
    books: list[BookTop] = field(default_factory=list)
