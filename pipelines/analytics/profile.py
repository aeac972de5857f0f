"""The 1-minute tick profile: the one lossless summary of a contract's trades.

Per minute and exact tick: taker sell and buy volume (step units) and trade counts; per minute:
open/high/low/close (ticks), buy/sell volume, trade count, running-delta extremes and the first
and last aggTrade ids. Every footprint, at any bin and timeframe, is built from it or from the
trades with the same result; the store persists exactly these rows (`pipelines.storage.minutes`
maps them to its columns), and `profile_from_records` is the only place they are made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from pipelines.analytics.footprint_kernels import (
    _ASK_N,
    _BID_N,
    _LEVEL_CELL_FIELDS,
    _MINUTE_STAT_FIELDS,
    _TRADES,
    _cells_in_trade_order,
)
from pipelines.analytics.tradeframe import TradeColumns, frame_columns
from pipelines.binance.contracts import ContractSpec
from pipelines.records.dtypes import PROFILE_LEVEL_DTYPE, PROFILE_MINUTE_DTYPE
from pipelines.records.timeunits import MINUTE_MS


@dataclass(frozen=True, slots=True)
class MinuteProfile:
    """Lossless per-minute, per-tick taker volume of one contract (what gets persisted).

    `levels` (PROFILE_LEVEL_DTYPE) is sorted by (time, price); `minutes` (PROFILE_MINUTE_DTYPE)
    has one row per minute with trades, sorted by time. Any coarser footprint is built from it
    by `footprint_from_profile`.
    """

    spec: ContractSpec
    levels: np.ndarray
    minutes: np.ndarray

    @classmethod
    def empty(cls, spec: ContractSpec) -> MinuteProfile:
        return cls(spec, np.zeros(0, PROFILE_LEVEL_DTYPE), np.zeros(0, PROFILE_MINUTE_DTYPE))

    @classmethod
    def concat(cls, spec: ContractSpec, parts: Sequence[MinuteProfile]) -> MinuteProfile:
        """Profiles of consecutive, non-overlapping minute ranges, joined in time order."""
        parts = [p for p in parts if len(p.minutes)]
        for before, after in pairwise(parts):
            if after.minutes["time"][0] <= before.minutes["time"][-1]:
                raise ValueError("profiles overlap or are out of order; each minute must be whole")
        if not parts:
            return cls.empty(spec)
        return cls(
            spec,
            np.concatenate([p.levels for p in parts]),
            np.concatenate([p.minutes for p in parts]),
        )

    def since(self, time_ms: int) -> MinuteProfile:
        """The minutes opening at or after `time_ms`."""
        lv = np.searchsorted(self.levels["time"], time_ms, side="left")
        mn = np.searchsorted(self.minutes["time"], time_ms, side="left")
        return MinuteProfile(self.spec, self.levels[lv:], self.minutes[mn:])


def minute_profile(
    trades: pd.DataFrame, *, tick_size: float | str, step_size: float | str | None = None
) -> MinuteProfile:
    """Minute profile of one contract's aggTrades frame (step inferred as in build_footprint)."""
    spec, records = frame_columns(trades, tick_size=tick_size, step_size=step_size)
    return profile_from_records(records, spec)


def profile_from_records(records: np.ndarray | TradeColumns, spec: ContractSpec) -> MinuteProfile:
    """Minute profile of one contract's `TRADE_DTYPE` records (any order)."""
    return MinuteProfile(spec, *profile_rows(records))


def profile_rows(records: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(levels, minutes) of one contract's records, on whatever integer grid they are on."""
    if len(records) == 0:
        return np.zeros(0, PROFILE_LEVEL_DTYPE), np.zeros(0, PROFILE_MINUTE_DTYPE)
    b0, lo, off, cells, bars, n_traded = _cells_in_trade_order(records, MINUTE_MS, 1)
    traded_cells = np.flatnonzero(cells[:, _BID_N] + cells[:, _ASK_N] > 0)
    bar_of_cell = np.repeat(np.arange(len(lo)), np.diff(off))[traded_cells]
    levels = np.zeros(n_traded, PROFILE_LEVEL_DTYPE)
    levels["time"] = (b0 + bar_of_cell) * MINUTE_MS
    levels["price"] = lo[bar_of_cell] + traded_cells - off[bar_of_cell]
    for col, name in enumerate(_LEVEL_CELL_FIELDS):
        levels[name] = cells[traded_cells, col]
    traded_bars = np.flatnonzero(bars[:, _TRADES] > 0)
    minutes = np.zeros(len(traded_bars), PROFILE_MINUTE_DTYPE)
    minutes["time"] = (b0 + traded_bars) * MINUTE_MS
    for col, name in enumerate(_MINUTE_STAT_FIELDS):
        minutes[name] = bars[traded_bars, col]
    return levels, minutes
