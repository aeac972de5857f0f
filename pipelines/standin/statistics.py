"""Rolling 24 h statistics of every contract (REST ticker/24hr and the ticker streams): the
live minute bars, the generated past and the synthetic days before it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipelines.records.timeunits import DAY_MS, MINUTE_MS
from pipelines.standin.bars import RING_MINUTES

if TYPE_CHECKING:
    from pipelines.standin.market import Market


def rolling_24h(market: Market, now_ms: int) -> dict[str, np.ndarray]:
    """Rolling 24 h statistics of every contract (prices in ticks, volumes in steps): the
    live minutes, the generated past and the synthetic days before it, oldest first."""
    n = len(market.contracts)
    win = market.minutes.window(now_ms // MINUTE_MS)
    parts = [_past_part(market, now_ms, n), win]
    pre = market.daily.before_start(now_ms - DAY_MS)
    if pre is not None:
        parts.insert(0, {**pre, "any": np.ones(n, bool)})
    big = np.iinfo(np.int64).max
    open_ = market.last_price.copy()
    for part in parts[::-1]:  # the oldest part with trades sets the open
        open_ = np.where(part["any"], part["open"], open_)
    high, low = market.last_price.copy(), market.last_price.copy()
    out = {
        "volume": np.zeros(n, np.int64),
        "quote": np.zeros(n),
        "trades": np.zeros(n, np.int64),
    }
    for part in parts:
        high = np.maximum(high, np.where(part["any"], part["high"], -big))
        low = np.minimum(low, np.where(part["any"], part["low"], big))
        for name, total in out.items():
            value = part[name] if total.dtype.kind == "f" else np.rint(part[name])
            out[name] = total + value.astype(total.dtype)
    last_id = market.next_raw - 1
    return {
        "open": open_,
        "high": high,
        "low": low,
        "last": market.last_price,
        "last_qty": market.last_qty,
        **out,
        "first_id": last_id - np.maximum(out["trades"], 1) + 1,
        "last_id": last_id,
        "open_time": np.full(n, now_ms - DAY_MS),
    }


def _past_part(market: Market, now_ms: int, n: int) -> dict[str, np.ndarray]:
    """The generated past's share of the rolling 24 h window ending now."""
    tail = market.past_tail
    none = {k: np.zeros(n, np.int64) for k in ("open", "high", "low", "volume", "trades")}
    none.update(quote=np.zeros(n), any=np.zeros(n, bool))
    if tail is None:
        return none
    width = tail["open"].shape[1]
    j = now_ms // MINUTE_MS - (RING_MINUTES - 1) - int(tail["first_minute"])
    if j >= width:
        return none
    j = max(j, 0)
    known = tail["open"].shape[0]  # contracts listed later have no past
    for name in none:
        none[name][:known] = tail[name][:, j]
    return none
