"""The 1-minute tick profile as stored: table columns, upserts, and rows to and from profiles.

The profile itself is made in one place, `pipelines.analytics.profile.profile_from_records`;
this module only maps its fields to the store's columns (`PROFILE_FIELDS`, `BAR_FIELDS`, the
one list of both) and back. Both tables hold integer sums that add exactly when a later batch
brings more trades of a minute already written, so the writer upserts them with `+`. Bars also
carry what joins minutes into longer bars: open/close with the aggTrade ids that order them, and
the running-delta extremes, which compose as max(before + extreme).
"""

from __future__ import annotations

import numpy as np

from pipelines.analytics.profile import MinuteProfile, profile_rows
from pipelines.binance.contracts import ContractSpec
from pipelines.records.dtypes import PROFILE_LEVEL_DTYPE, PROFILE_MINUTE_DTYPE

# (stored column, MinuteProfile field), in table order after `sym_id`.
PROFILE_FIELDS = (
    ("minute", "time"),
    ("price_ticks", "price"),
    ("bid_qty_steps", "bid"),
    ("ask_qty_steps", "ask"),
    ("bid_trades", "bid_trades"),
    ("ask_trades", "ask_trades"),
)
BAR_FIELDS = (
    ("minute", "time"),
    ("open_ticks", "open"),
    ("high_ticks", "high"),
    ("low_ticks", "low"),
    ("close_ticks", "close"),
    ("first_agg_id", "first_agg_id"),
    ("last_agg_id", "last_agg_id"),
    ("trades", "trades"),
    ("bid_qty_steps", "sell"),
    ("ask_qty_steps", "buy"),
    ("delta_max_steps", "max_delta"),
    ("delta_min_steps", "min_delta"),
)

PROFILE_COLUMNS = ("sym_id", *(column for column, _ in PROFILE_FIELDS))
BAR_COLUMNS = ("sym_id", *(column for column, _ in BAR_FIELDS))

UPSERT_PROFILE = f"""
INSERT INTO minute_profile_rows ({", ".join(PROFILE_COLUMNS)}) VALUES ({", ".join("?" * len(PROFILE_COLUMNS))})
ON CONFLICT (sym_id, minute, price_ticks) DO UPDATE SET
    bid_qty_steps = bid_qty_steps + excluded.bid_qty_steps,
    ask_qty_steps = ask_qty_steps + excluded.ask_qty_steps,
    bid_trades = bid_trades + excluded.bid_trades,
    ask_trades = ask_trades + excluded.ask_trades
"""

# SET expressions read the row as it was before the update. A later piece of a minute shifts
# its own delta extremes by the delta stored so far; an earlier piece shifts the stored ones.
UPSERT_BAR = f"""
INSERT INTO minute_bar_rows ({", ".join(BAR_COLUMNS)}) VALUES ({", ".join("?" * len(BAR_COLUMNS))})
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


def minute_rows(sym_id: np.ndarray, trades: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(profile rows, bar rows) as int64 matrices in PROFILE_COLUMNS / BAR_COLUMNS order.

    `trades` are `TRADE_DTYPE` rows already on the store's grid, sorted by `sym_id` (one run per
    stored symbol).
    """
    starts = np.flatnonzero(np.append(True, sym_id[1:] != sym_id[:-1])) if len(sym_id) else []
    ends = [*starts[1:], len(sym_id)]
    levels, bars = [], []
    for lo, hi in zip(starts, ends, strict=True):
        profile_levels, profile_minutes = profile_rows(trades[lo:hi])
        levels.append(_rows(int(sym_id[lo]), profile_levels, PROFILE_FIELDS))
        bars.append(_rows(int(sym_id[lo]), profile_minutes, BAR_FIELDS))
    return _stack(levels, PROFILE_COLUMNS), _stack(bars, BAR_COLUMNS)


def profile_from_rows(spec: ContractSpec, levels: np.ndarray, bars: np.ndarray) -> MinuteProfile:
    """Stored rows (columns after `sym_id`, in table order) back as a `MinuteProfile`."""
    out_levels = np.zeros(len(levels), PROFILE_LEVEL_DTYPE)
    for i, (_, name) in enumerate(PROFILE_FIELDS):
        out_levels[name] = levels[:, i]
    out_minutes = np.zeros(len(bars), PROFILE_MINUTE_DTYPE)
    for i, (_, name) in enumerate(BAR_FIELDS):
        out_minutes[name] = bars[:, i]
    return MinuteProfile(spec, out_levels, out_minutes)


def _rows(sym_id: int, table: np.ndarray, fields: tuple[tuple[str, str], ...]) -> np.ndarray:
    out = np.empty((len(table), len(fields) + 1), np.int64)
    out[:, 0] = sym_id
    for i, (_, name) in enumerate(fields, start=1):
        out[:, i] = table[name]
    return out


def _stack(parts: list[np.ndarray], columns: tuple[str, ...]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros((0, len(columns)), np.int64)
