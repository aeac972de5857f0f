"""Random trade tapes for property tests: few prices and times so that levels, bars and taker
runs collide often."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from pipelines.binance.archive import trades_to_frame
from pipelines.binance.contracts import ContractSpec
from pipelines.records.dtypes import TRADE_DTYPE

BTC = ContractSpec("BTCUSDT", "0.10", "0.001")
ETH = ContractSpec("ETHUSDT", "0.01", "0.001")
T0 = 1_723_161_240_000  # a UTC minute open


@st.composite
def tapes(draw, sym: int = 0, max_trades: int = 120, span_ms: int = 25 * 60_000) -> np.ndarray:
    """`TRADE_DTYPE` records of one contract in trade order: (time, agg_id) increasing."""
    n = draw(st.integers(1, max_trades))
    steps = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    # Offsets mostly zero (same-millisecond sweeps), sometimes minutes apart.
    gaps = draw(
        st.lists(
            st.one_of(st.just(0), st.integers(1, 900), st.integers(1, span_ms // 4)),
            min_size=n,
            max_size=n,
        )
    )
    moves = draw(st.lists(st.integers(-4, 4), min_size=n, max_size=n))
    qty = draw(
        st.lists(st.one_of(st.integers(1, 30), st.integers(1, 5000)), min_size=n, max_size=n)
    )
    sells = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    start = T0 + draw(st.integers(0, 59_999))
    first_agg = draw(st.integers(1, 10**9))
    out = np.zeros(n, TRADE_DTYPE)
    out["sym"] = sym
    out["time"] = start + np.cumsum(gaps) - gaps[0]
    out["price"] = 600_000 + np.cumsum(moves)
    out["qty"] = qty
    out["buyer_maker"] = sells
    # Mostly consecutive aggTrade ids, with occasional holes (a missed message).
    holes = draw(st.lists(st.integers(0, 9), min_size=n, max_size=n))
    out["agg_id"] = first_agg + np.cumsum(np.array(holes) == 0) + np.arange(n)
    out["first_id"] = out["agg_id"] * 3
    out["last_id"] = out["first_id"] + np.array(steps)
    return out


def as_frame(records: np.ndarray, spec: ContractSpec = BTC) -> pd.DataFrame:
    """Records in the data.binance.vision layout, as an analyst would load them."""
    return trades_to_frame(records, spec)


@st.composite
def splits(draw, n: int) -> list[int]:
    """Sorted cut points splitting range(n) into micro-batches (empty batches included)."""
    cuts = draw(st.lists(st.integers(0, n), max_size=12))
    return sorted(cuts)
