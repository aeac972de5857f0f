"""Studies drawn over a footprint: naked POCs, unfinished auctions, a range's volume profile.

Definitions (docs/analytics.md):

* Naked POC: a bar's point of control that no later bar of the footprint has traded through
  (a later bar's low..high range, in levels, contains it). It is extended to the right until
  price revisits it; `revisited_at` is the open of the first bar that did (NaN while naked).
* Unfinished auction: a bar whose highest (or lowest) level traded on both sides, buyers and
  sellers, so the auction at that extreme did not end with one side exhausted.
* Volume profile: taker sell and buy volume per price level summed over the bars given.

All work on `Footprint.levels` / `Footprint.bars` frames, whose prices are exact level edges.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

POC_COLUMNS = ("bar_time", "poc", "revisited_at")
AUCTION_COLUMNS = ("bar_time", "unfinished_high", "unfinished_low", "high_level", "low_level")


def naked_pocs(bars: pd.DataFrame, level_size: float) -> pd.DataFrame:
    """Each bar's POC and the open of the first later bar that traded through it."""
    if len(bars) == 0:
        return pd.DataFrame({c: np.zeros(0) for c in POC_COLUMNS})
    bars = bars.sort_values("bar_time")
    # Levels as integers: the bar's low/high prices lie inside their levels, the POC is an edge.
    poc = np.rint(bars["poc"].to_numpy() / level_size).astype(np.int64)
    low = np.floor(bars["low"].to_numpy() / level_size + 1e-9).astype(np.int64)
    high = np.floor(bars["high"].to_numpy() / level_size + 1e-9).astype(np.int64)
    first = _first_revisit(poc, low, high)
    times = bars["bar_time"].to_numpy()
    revisited = np.where(first >= 0, times[np.maximum(first, 0)].astype(np.float64), np.nan)
    return pd.DataFrame(
        {"bar_time": times, "poc": bars["poc"].to_numpy(), "revisited_at": revisited}
    )


@njit(cache=True)
def _first_revisit(poc, low, high):
    n = poc.shape[0]
    out = np.full(n, -1, np.int64)
    for i in range(n):
        for j in range(i + 1, n):
            if low[j] <= poc[i] <= high[j]:
                out[i] = j
                break
    return out


def unfinished_auctions(levels: pd.DataFrame) -> pd.DataFrame:
    """Per bar: whether its highest and its lowest traded level saw both buyers and sellers."""
    if len(levels) == 0:
        return pd.DataFrame({c: np.zeros(0) for c in AUCTION_COLUMNS})
    # numpy rather than a groupby: this runs for every redraw of every session's footprint.
    times = levels["bar_time"].to_numpy()
    price = levels["price"].to_numpy()
    order = np.lexsort((price, times))
    times, price = times[order], price[order]
    both = ((levels["bid_volume"].to_numpy() > 0) & (levels["ask_volume"].to_numpy() > 0))[order]
    first = np.flatnonzero(np.r_[True, times[1:] != times[:-1]])
    last = np.r_[first[1:] - 1, len(times) - 1]
    return pd.DataFrame(
        {
            "bar_time": times[first],
            "unfinished_high": both[last],
            "unfinished_low": both[first],
            "high_level": price[last],
            "low_level": price[first],
        }
    )


def volume_profile(levels: pd.DataFrame) -> pd.DataFrame:
    """Taker sell (bid) and buy (ask) volume per price level over all the levels given."""
    if len(levels) == 0:
        return pd.DataFrame({"price": [], "bid_volume": [], "ask_volume": []})
    # Level prices are exact edges (one float per level), so equal levels are equal floats.
    price, row = np.unique(levels["price"].to_numpy(), return_inverse=True)
    return pd.DataFrame(
        {
            "price": price,
            "bid_volume": np.bincount(row, levels["bid_volume"].to_numpy(), len(price)),
            "ask_volume": np.bincount(row, levels["ask_volume"].to_numpy(), len(price)),
        }
    )
