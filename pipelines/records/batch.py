"""The micro-batch that travels through the engine's streamz graph to every consumer."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipelines.records.dtypes import LIQUIDATION_DTYPE, TICKER_DTYPE, TRADE_DTYPE


def _empty(dtype: np.dtype) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


@dataclass(slots=True)
class BookTop:
    """Top-of-book levels of one contract (a partial-depth frame or a REST depth answer)."""

    sym: int
    event_time: int
    bid_price: np.ndarray
    bid_qty: np.ndarray
    ask_price: np.ndarray
    ask_qty: np.ndarray
    last_update_id: int = 0


@dataclass(slots=True)
class EngineBatch:
    """Everything the engine accepted during one batching interval (~50-100 ms).

    `trades` are exactly-once and, per symbol, in increasing `agg_id` order: duplicates were
    dropped and gaps were filled from REST before the batch was emitted.
    """

    seq: int
    created_ms: int  # wall clock when the batch was emitted
    exchange_ms: int = 0  # newest event time received so far: the exchange's clock as seen here
    trades: np.ndarray = field(default_factory=lambda: _empty(TRADE_DTYPE))
    liquidations: np.ndarray = field(default_factory=lambda: _empty(LIQUIDATION_DTYPE))
    tickers: np.ndarray = field(default_factory=lambda: _empty(TICKER_DTYPE))
    books: list[BookTop] = field(default_factory=list)
