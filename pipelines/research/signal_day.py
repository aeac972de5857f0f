"""The `signals` dataset of one contract-day: the day's signals and what the price did after.

Signals are `analytics.signals.signals_from_profile` over the day's minute profile, with the
previous UTC day (when the source has it) run through first as warm-up (`emit_from` = the
day's start): the previous bar, the naked POCs and the reference come from it, so a day's
signals depend on that day and the one before, never on the range asked for. Both days go on
one grid (`grids.common_spec`), and the signals' `bin_ticks` are ticks of that grid.

Follow-through, per signal, for N in 5, 15 and 60 minutes: `return_Nm` = close_at(bar_end + N) /
close_at(bar_end) - 1, where bar_end = bar_time + timeframe and close_at(t) is the price of the
last trade before t. It is computed as (p1 - p0) / p0 from the integer ticks, one correctly
rounded division of exact integers. NaN when no trade at or after bar_end + N was read: the
trades read are the day's and, when the source has the next day, its first hour (and its first
trade after that hour). `direction` is `analytics.signals.DIRECTION` of the kind and side.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines.analytics.profile import profile_from_records
from pipelines.analytics.signals import (
    SIGNAL_COLUMNS,
    SignalRules,
    direction,
    signal_frame,
    signals_from_profile,
)
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.timeunits import MINUTE_MS
from pipelines.research.grids import common_spec, records_on
from pipelines.research.sources import DayTrades, day_start_ms

HORIZONS_MIN = {"return_5m": 5, "return_15m": 15, "return_60m": 60}
FOLLOW_COLUMNS = (*HORIZONS_MIN, "direction")
# The dataset as read back: `symbol` comes from the partition key.
COLUMNS = (*SIGNAL_COLUMNS, *FOLLOW_COLUMNS)
LOOKAHEAD_MS = max(HORIZONS_MIN.values()) * MINUTE_MS

# Written explicitly: a day without signals would otherwise give untyped (null) columns.
_TYPES = {
    "bar_time": pa.int64(), "timeframe": pa.string(), "bin_ticks": pa.int64(),
    "kind": pa.string(), "side": pa.string(), "price_low": pa.float64(),
    "price_high": pa.float64(), "levels": pa.int64(), "volume": pa.float64(),
    "notional": pa.float64(), "strength": pa.float64(),
    **dict.fromkeys(HORIZONS_MIN, pa.float64()), "direction": pa.int64(),
}  # fmt: skip
SCHEMA = pa.schema([(name, _TYPES[name]) for name in COLUMNS if name != "symbol"])


def day_signals(
    day: DayTrades,
    before: DayTrades | None = None,
    after: DayTrades | None = None,
    bin_ticks: int | None = None,
) -> tuple[pd.DataFrame, ContractSpec]:
    """The day's signal rows (the dataset's columns but `symbol`) and the grid they are on.

    `before`: the previous UTC day (warm-up), `after`: the next one (follow-through of the
    day's last hour); None when the source has no such day. `bin_ticks`: a fixed bin, else the
    automatic one.
    """
    days = [d for d in (before, day) if d is not None]
    spec = common_spec(day.symbol, [d.spec for d in days])
    records = np.concatenate([records_on(d.records, d.spec, spec) for d in days])
    profile = profile_from_records(records, spec)
    rows, _ = signals_from_profile(
        profile, rules=SignalRules(bin_ticks=bin_ticks), emit_from=day_start_ms(day.day)
    )
    frame = signal_frame(rows, SymbolRegistry([spec])).drop(columns="symbol")
    times, ticks = _trades_after(day, after)
    returns = follow_through(rows["bar_time"] + rows["tf_ms"], times, ticks)
    for name, values in returns.items():
        frame[name] = values
    frame["direction"] = direction(frame["kind"], frame["side"])
    return frame, spec


def _trades_after(day: DayTrades, after: DayTrades | None) -> tuple[np.ndarray, np.ndarray]:
    """(time, price ticks) of the day's trades and the next day's first hour, on one grid."""
    parts = [day]
    if after is not None and len(after.records):
        rec = after.records
        # The first trade past the hour stays: it shows the data reaches the hour's end.
        cut = int(np.searchsorted(rec["time"], day_start_ms(after.day) + LOOKAHEAD_MS)) + 1
        parts.append(DayTrades(after.symbol, after.day, rec[:cut], after.spec))
    spec = common_spec(day.symbol, [d.spec for d in parts])
    on_grid = [records_on(d.records, d.spec, spec) for d in parts]
    return (np.concatenate([r["time"] for r in on_grid]),
            np.concatenate([r["price"] for r in on_grid]))  # fmt: skip


def follow_through(
    bar_end: np.ndarray, times: np.ndarray, ticks: np.ndarray
) -> dict[str, np.ndarray]:
    """`return_Nm` per bar end (ms) from trades in time order (time, price ticks): see the
    module doc. Every bar end must have a trade before it."""
    bar_end = np.asarray(bar_end, np.int64)
    out: dict[str, np.ndarray] = {}
    if len(bar_end) == 0:
        return {name: np.zeros(0) for name in HORIZONS_MIN}
    before = np.searchsorted(times, bar_end, side="left") - 1
    if (before < 0).any():
        raise ValueError("a bar ends before the first trade read")
    p0 = ticks[before]
    last = int(times[-1])
    for name, minutes in HORIZONS_MIN.items():
        at = bar_end + minutes * MINUTE_MS
        p1 = ticks[np.searchsorted(times, at, side="left") - 1]
        # The int64 difference is exact; one float division rounds the true return once.
        out[name] = np.where(at <= last, (p1 - p0) / p0, np.nan)
    return out
