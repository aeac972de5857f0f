"""Per-minute, per-tick profile rows and per-minute bar rows from a micro-batch of trades.

Both are integer sums that add exactly when a later batch brings more trades of a minute already
written, so the writer upserts them with `+`. Bars also carry what is needed to join minutes
into longer bars: open/close with the aggTrade ids that order them, and the running-delta
extremes (taker buy - taker sell volume after each trade of the minute, in trade order), which
compose as max(before + extreme).
"""

from __future__ import annotations

import numpy as np

MINUTE_MS = 60_000

PROFILE_COLUMNS = (
    "sym_id",
    "minute",
    "price_ticks",
    "bid_qty_steps",
    "ask_qty_steps",
    "bid_trades",
    "ask_trades",
)
BAR_COLUMNS = (
    "sym_id",
    "minute",
    "open_ticks",
    "high_ticks",
    "low_ticks",
    "close_ticks",
    "first_agg_id",
    "last_agg_id",
    "trades",
    "bid_qty_steps",
    "ask_qty_steps",
    "delta_max_steps",
    "delta_min_steps",
)

UPSERT_PROFILE = f"""
INSERT INTO minute_profile_rows ({", ".join(PROFILE_COLUMNS)}) VALUES ({", ".join("?" * 7)})
ON CONFLICT (sym_id, minute, price_ticks) DO UPDATE SET
    bid_qty_steps = bid_qty_steps + excluded.bid_qty_steps,
    ask_qty_steps = ask_qty_steps + excluded.ask_qty_steps,
    bid_trades = bid_trades + excluded.bid_trades,
    ask_trades = ask_trades + excluded.ask_trades
"""

# SET expressions read the row as it was before the update. A later piece of a minute shifts
# its own delta extremes by the delta stored so far; an earlier piece shifts the stored ones.
UPSERT_BAR = f"""
INSERT INTO minute_bar_rows ({", ".join(BAR_COLUMNS)}) VALUES ({", ".join("?" * 13)})
ON CONFLICT (sym_id, minute) DO UPDATE SET
    open_ticks = CASE WHEN excluded.first_agg_id < first_agg_id
                      THEN excluded.open_ticks ELSE open_ticks END,
    close_ticks = CASE WHEN excluded.last_agg_id > last_agg_id
                       THEN excluded.close_ticks ELSE close_ticks END,
    high_ticks = max(high_ticks, excluded.high_ticks),
    low_ticks = min(low_ticks, excluded.low_ticks),
    first_agg_id = min(first_agg_id, excluded.first_agg_id),
    last_agg_id = max(last_agg_id, excluded.last_agg_id),
    trades = trades + excluded.trades,
    bid_qty_steps = bid_qty_steps + excluded.bid_qty_steps,
    ask_qty_steps = ask_qty_steps + excluded.ask_qty_steps,
    delta_max_steps = CASE WHEN excluded.first_agg_id > last_agg_id
        THEN max(delta_max_steps, ask_qty_steps - bid_qty_steps + excluded.delta_max_steps)
        ELSE max(excluded.delta_max_steps,
                 excluded.ask_qty_steps - excluded.bid_qty_steps + delta_max_steps) END,
    delta_min_steps = CASE WHEN excluded.first_agg_id > last_agg_id
        THEN min(delta_min_steps, ask_qty_steps - bid_qty_steps + excluded.delta_min_steps)
        ELSE min(excluded.delta_min_steps,
                 excluded.ask_qty_steps - excluded.bid_qty_steps + delta_min_steps) END
"""


def _group_starts(*keys: np.ndarray) -> np.ndarray:
    """Start offsets of the runs of equal key tuples in arrays already sorted by those keys."""
    change = np.zeros(len(keys[0]), dtype=bool)
    change[0] = True
    for key in keys:
        change[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(change)


def minute_rows(
    sym_id: np.ndarray,
    agg_id: np.ndarray,
    time: np.ndarray,
    price: np.ndarray,
    qty: np.ndarray,
    buyer_maker: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(profile rows, bar rows) as int64 matrices in PROFILE_COLUMNS / BAR_COLUMNS order.

    Trades may come in any order; within a minute, trade order is (time, agg_id).
    """
    if len(sym_id) == 0:
        return np.zeros((0, len(PROFILE_COLUMNS)), np.int64), np.zeros(
            (0, len(BAR_COLUMNS)), np.int64
        )
    minute = time // MINUTE_MS * MINUTE_MS
    bid_qty = np.where(buyer_maker, qty, 0)
    ask_qty = qty - bid_qty
    bid_n = buyer_maker.astype(np.int64)

    order = np.lexsort((price, minute, sym_id))
    s, m, p = sym_id[order], minute[order], price[order]
    starts = _group_starts(s, m, p)
    bq, aq, bn = bid_qty[order], ask_qty[order], bid_n[order]
    bid_trades = np.add.reduceat(bn, starts)
    profile = np.column_stack(
        (
            s[starts],
            m[starts],
            p[starts],
            np.add.reduceat(bq, starts),
            np.add.reduceat(aq, starts),
            bid_trades,
            np.diff(np.append(starts, len(order))) - bid_trades,
        )
    )

    order = np.lexsort((agg_id, time, minute, sym_id))
    s, m, p, a = sym_id[order], minute[order], price[order], agg_id[order]
    starts = _group_starts(s, m)
    ends = np.append(starts[1:], len(order))
    bq, aq = bid_qty[order], ask_qty[order]
    run = np.cumsum(aq - bq)
    before = run[starts] - (aq - bq)[starts]
    run -= np.repeat(before, ends - starts)  # running delta restarts at each minute
    bars = np.column_stack(
        (
            s[starts],
            m[starts],
            p[starts],
            np.maximum.reduceat(p, starts),
            np.minimum.reduceat(p, starts),
            p[ends - 1],
            np.minimum.reduceat(a, starts),
            np.maximum.reduceat(a, starts),
            ends - starts,
            np.add.reduceat(bq, starts),
            np.add.reduceat(aq, starts),
            np.maximum.reduceat(run, starts),
            np.minimum.reduceat(run, starts),
        )
    )
    return profile.astype(np.int64, copy=False), bars.astype(np.int64, copy=False)
