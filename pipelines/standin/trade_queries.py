"""REST aggTrades over the generated past (`past.Past`) and the live history, joined at the
first live aggregate id and the live start time."""

from __future__ import annotations

import numpy as np

from pipelines.standin.history import STORED_DTYPE, TradeHistory
from pipelines.standin.past import Past

_NO_ROWS = np.zeros(0, dtype=STORED_DTYPE)


def _join(older: np.ndarray, newer: np.ndarray | None) -> np.ndarray:
    return older if newer is None or len(newer) == 0 else np.concatenate([older, newer])


def query_agg_trades(
    past_trades: Past,
    live: TradeHistory,
    sym: int,
    *,
    first_live_agg: int,
    live_start_ms: int,
    from_id: int | None = None,
    start_time: int | None = None,
    end_time: int | None = None,
    limit: int = 500,
) -> np.ndarray:
    """REST aggTrades over the generated past and the live history (`STORED_DTYPE`)."""
    past = past_trades if past_trades.has(sym) else None
    if past is None:
        return live.query(
            sym, from_id=from_id, start_time=start_time, end_time=end_time, limit=limit
        )
    first_live = first_live_agg
    if from_id is not None:
        older = past.by_id(sym, from_id, limit) if from_id < first_live else _NO_ROWS
        rest = limit - len(older)
        newer = live.query(sym, from_id=max(from_id, first_live), limit=rest) if rest else None
        return _join(older, newer)
    if start_time is not None:
        older = _NO_ROWS
        if start_time < live_start_ms:
            end = live_start_ms - 1 if end_time is None else min(end_time, live_start_ms - 1)
            older = past.by_time(sym, start_time, end, limit)
        rest = limit - len(older)
        newer = None
        if rest and (end_time is None or end_time >= live_start_ms):
            newer = live.query(
                sym, start_time=max(start_time, live_start_ms), end_time=end_time, limit=rest
            )
        return _join(older, newer)
    newer = live.query(sym, end_time=end_time, limit=limit)
    if len(newer) == limit:
        return newer
    end = live_start_ms - 1 if end_time is None else min(end_time, live_start_ms - 1)
    return _join(past.by_time(sym, None, end, limit - len(newer)), newer)
