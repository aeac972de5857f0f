"""Market breadth per minute, across every contract: how many are buyer- vs seller-dominated,
how many big orders and how much liquidated notional, and whether the minute widened.

A minute widens when many contracts liquidate or sweep at once: its count of contracts with a
liquidation, or with a big order, is at least WIDENING_MIN and WIDENING_FACTOR times the median
of the WIDENING_LOOKBACK minutes before it. Inputs are the trackers' own outputs (heatmap
frame, big-order rows, liquidation rows), so this is the same on live and recorded data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.records.timeunits import MINUTE_MS

BREADTH_COLUMNS = (
    "minute", "buyers", "sellers", "big_orders", "sweeping", "liquidated", "liquidating",
    "widening",
)  # fmt: skip
WIDENING_MIN = 5
WIDENING_FACTOR = 3.0
WIDENING_LOOKBACK = 30


def market_breadth(
    heatmap: pd.DataFrame, orders: pd.DataFrame, liquidations: pd.DataFrame
) -> pd.DataFrame:
    """One row per column (minute open, ms) of `heatmap` (contracts × minutes of imbalance):
    buyers / sellers (contracts with imbalance > 0 / < 0), big_orders and sweeping (orders
    and contracts with one, by `orders`' time), liquidated (notional) and liquidating
    (contracts), by `liquidations`' time; `widening` as the module says."""
    minutes = np.asarray(heatmap.columns, dtype=np.int64)
    values = heatmap.to_numpy(dtype=np.float64)
    out = pd.DataFrame(
        {
            "minute": minutes,
            "buyers": (values > 0).sum(axis=0).astype(np.int64),
            "sellers": (values < 0).sum(axis=0).astype(np.int64),
        }
    )
    out["big_orders"], out["sweeping"] = _per_minute(minutes, orders, None)
    notional, out["liquidating"] = _per_minute(minutes, liquidations, "notional")
    out["liquidated"] = notional
    out["widening"] = _widening(out["liquidating"].to_numpy()) | _widening(
        out["sweeping"].to_numpy()
    )
    return out[list(BREADTH_COLUMNS)]


def _per_minute(
    minutes: np.ndarray, rows: pd.DataFrame, value: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """(count or sum of `value`, distinct contracts) of `rows` per minute of `minutes`."""
    n = len(minutes)
    if n == 0 or len(rows) == 0:
        return np.zeros(n, np.float64 if value else np.int64), np.zeros(n, np.int64)
    col = rows["time"].to_numpy(dtype=np.int64) // MINUTE_MS - minutes[0] // MINUTE_MS
    inside = (col >= 0) & (col < n)
    col = col[inside]
    weights = rows[value].to_numpy(dtype=np.float64)[inside] if value else None
    totals = np.bincount(col, weights=weights, minlength=n)
    pairs = pd.DataFrame({"col": col, "symbol": rows["symbol"].to_numpy()[inside]})
    distinct = pairs.drop_duplicates()["col"].to_numpy()
    return (totals if value else totals.astype(np.int64)), np.bincount(distinct, minlength=n)


def _widening(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    out = np.zeros(len(counts), dtype=bool)
    for i in range(len(counts)):
        before = counts[max(0, i - WIDENING_LOOKBACK) : i]
        base = float(np.median(before)) if len(before) else 0.0
        out[i] = counts[i] >= WIDENING_MIN and counts[i] >= WIDENING_FACTOR * max(base, 1.0)
    return out
