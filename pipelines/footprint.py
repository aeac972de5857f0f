"""Footprint bars: per-bar, per-price-level taker volume, split by side, from raw trades.

Definitions (docs/analytics.md has the long form):

* Bar: trades with floor(transact_time / timeframe) equal; `bar_time` is that bar's open (epoch
  ms, UTC-aligned). Only bars with trades get a row.
* Level: floor(price_ticks / price_bin_ticks); its `price` is the level's lower edge,
  level * price_bin_ticks * tick_size, made from integers. `bid_volume` is taker-sell volume
  (is_buyer_maker true), `ask_volume` taker-buy volume.
* POC: the level with the most volume; ties go to the lower price.
* Value area: from the POC, add the larger of the two neighbouring levels (levels inside the bar's
  range that did not trade count as zero) until the area holds at least 70 % of the bar's volume;
  when both neighbours hold the same volume the lower one is added.
* Running delta: buy minus sell volume after each trade of the bar, in trade order (time, then
  aggTrade id); `max_delta`/`min_delta` are its extremes over the bar's trades. `cvd` is the
  cumulative delta over the bars of the result.
* Diagonal imbalance, R = imbalance_ratio, m = the minimum volume in step units (at least 1):
  buy imbalance at level p when ask[p] >= m and ask[p] >= R * bid[p - 1]; sell imbalance at p
  when bid[p] >= m and bid[p] >= R * ask[p + 1]. A neighbour level that did not trade (or lies
  outside the bar) has zero volume, so then the level is imbalanced exactly when its own side
  holds at least m. A level whose own side is zero is never imbalanced.
* Stacked imbalance: `stacked_levels` (3) or more adjacent price levels imbalanced on the same
  side; every level of such a run is flagged. A level that did not trade breaks a run.

All sums are integers (ticks, step units, counts); floats are made once at the end. Binning
never looks at a previous aggregation: every footprint comes from the trades, or from the
per-minute, per-tick `MinuteProfile`, which holds the same sums losslessly. Running-delta
extremes compose exactly across minutes (bar extreme = max over minutes of the delta before the
minute plus the minute's extreme), so a footprint from profiles equals one from trades in every
column.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from itertools import pairwise

import numpy as np
import pandas as pd
from numba import njit

from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.records import TRADE_DTYPE
from pipelines.tradeframe import TradeColumns, frame_columns, in_trade_order

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
TIMEFRAMES_MS = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
}
VALUE_AREA_SHARE = (7, 10)  # 70 %, as an exact integer ratio
DEFAULT_IMBALANCE_RATIO = 3.0
DEFAULT_STACKED_LEVELS = 3

PROFILE_LEVEL_DTYPE = np.dtype(
    [
        ("time", "i8"),  # minute open, epoch ms
        ("price", "i8"),  # exact tick
        ("bid", "i8"),  # taker-sell step units
        ("ask", "i8"),  # taker-buy step units
        ("bid_trades", "i8"),
        ("ask_trades", "i8"),
    ]
)
PROFILE_MINUTE_DTYPE = np.dtype(
    [
        ("time", "i8"),
        ("open", "i8"),  # ticks
        ("high", "i8"),
        ("low", "i8"),
        ("close", "i8"),
        ("buy", "i8"),  # step units
        ("sell", "i8"),
        ("trades", "i8"),
        ("max_delta", "i8"),  # running-delta extremes within the minute, step units
        ("min_delta", "i8"),
    ]
)

LEVEL_COLUMNS = (
    "bar_time",
    "price",
    "bid_volume",
    "ask_volume",
    "bid_trades",
    "ask_trades",
    "buy_imbalance",
    "sell_imbalance",
    "stacked_buy",
    "stacked_sell",
)
BAR_COLUMNS = (
    "bar_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "buy_volume",
    "sell_volume",
    "delta",
    "trades",
    "poc",
    "value_area_low",
    "value_area_high",
    "max_delta",
    "min_delta",
    "cvd",
)

_BIG = np.iinfo(np.int64).max


def timeframe_ms(timeframe: str) -> int:
    """Bar length in ms of a supported timeframe name."""
    try:
        return TIMEFRAMES_MS[timeframe]
    except (KeyError, TypeError):
        raise ValueError(
            f"unsupported timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES_MS)}"
        ) from None


def check_price_bin(price_bin_ticks: int) -> int:
    """The price bin as a positive whole number of ticks."""
    ok = isinstance(price_bin_ticks, int | np.integer) and not isinstance(price_bin_ticks, bool)
    if not ok or price_bin_ticks < 1:
        raise ValueError(
            f"price_bin_ticks must be a positive whole number of ticks, got {price_bin_ticks!r}"
        )
    return int(price_bin_ticks)


@dataclass(frozen=True, slots=True)
class FootprintRules:
    """Validated binning and imbalance parameters, in grid units."""

    price_bin_ticks: int
    timeframe: str
    tf_ms: int
    imbalance_ratio: float
    min_steps: int  # own-side minimum for an imbalance, step units (>= 1)
    stacked_levels: int

    @classmethod
    def make(
        cls,
        spec: ContractSpec,
        *,
        price_bin_ticks: int = 1,
        timeframe: str = "1m",
        imbalance_ratio: float = DEFAULT_IMBALANCE_RATIO,
        imbalance_min_volume: float = 0.0,
        stacked_levels: int = DEFAULT_STACKED_LEVELS,
    ) -> FootprintRules:
        ratio = float(imbalance_ratio)
        if not (math.isfinite(ratio) and ratio > 0):
            raise ValueError(f"imbalance_ratio must be a positive number, got {imbalance_ratio!r}")
        min_volume = Decimal(str(imbalance_min_volume))
        if not min_volume.is_finite() or min_volume < 0:
            raise ValueError(f"imbalance_min_volume must be >= 0, got {imbalance_min_volume!r}")
        if not isinstance(stacked_levels, int | np.integer) or stacked_levels < 2:
            raise ValueError(f"stacked_levels must be an integer >= 2, got {stacked_levels!r}")
        # A volume between steps rounds up (0.0015 with step 0.001 -> 2); float noise such as
        # 9 * 0.001 = 0.009000000000000001 is not "between steps".
        exact = min_volume / Decimal(spec.step_size)
        nearest = exact.to_integral_value()
        close = abs(exact - nearest) <= Decimal("1e-9") * max(Decimal(1), nearest)
        steps = nearest if close else exact.to_integral_value(rounding=ROUND_CEILING)
        return cls(
            price_bin_ticks=check_price_bin(price_bin_ticks),
            timeframe=timeframe,
            tf_ms=timeframe_ms(timeframe),
            imbalance_ratio=ratio,
            min_steps=max(1, int(steps)),
            stacked_levels=int(stacked_levels),
        )


@dataclass(frozen=True, slots=True)
class Footprint:
    """Footprint of one contract: `levels` (one row per bar and traded level) and `bars`."""

    levels: pd.DataFrame
    bars: pd.DataFrame
    spec: ContractSpec
    price_bin_ticks: int
    timeframe: str


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


# ---------------------------------------------------------------- public builders


def build_footprint(
    trades: pd.DataFrame,
    *,
    tick_size: float | str,
    price_bin_ticks: int = 1,
    timeframe: str = "1m",
    imbalance_ratio: float = DEFAULT_IMBALANCE_RATIO,
    imbalance_min_volume: float = 0.0,
    step_size: float | str | None = None,
    stacked_levels: int = DEFAULT_STACKED_LEVELS,
) -> Footprint:
    """Footprint of one contract's aggTrades (data.binance.vision layout), from the raw trades.

    Without `step_size` the quantity step is inferred from the data: 10**-d for the largest
    number of quantity decimals d (BTCUSDT quantities like 0.006 give 0.001). Trades are taken
    in trade order (transact_time, then agg_trade_id). Raises ValueError for an unsupported
    timeframe, a price bin that is not a positive whole number of ticks, or bad imbalance
    parameters.
    """
    spec, records = frame_columns(trades, tick_size=tick_size, step_size=step_size)
    rules = FootprintRules.make(
        spec,
        price_bin_ticks=price_bin_ticks,
        timeframe=timeframe,
        imbalance_ratio=imbalance_ratio,
        imbalance_min_volume=imbalance_min_volume,
        stacked_levels=stacked_levels,
    )
    return footprint_from_records(records, spec, rules)


def footprint_from_records(
    records: np.ndarray | TradeColumns, spec: ContractSpec, rules: FootprintRules
) -> Footprint:
    """Footprint of one contract's `TRADE_DTYPE` records (any order; sorted into trade order)."""
    if len(records) == 0:
        return _empty_footprint(spec, rules)
    return _assemble(
        _cells_in_trade_order(records, rules.tf_ms, rules.price_bin_ticks), spec, rules
    )


def _cells_in_trade_order(records: np.ndarray | TradeColumns, tf_ms: int, bin_ticks: int) -> tuple:
    """Kernel sums of one contract's records, sorted into trade order first if they are not."""
    for attempt in range(2):
        ordered, *cells = _trade_cells(
            records["time"],
            records["price"],
            records["qty"],
            records["buyer_maker"],
            records["agg_id"],
            tf_ms,
            bin_ticks,
        )
        if ordered:
            return tuple(cells)
        if attempt == 0:
            records = in_trade_order(records)
    raise AssertionError("records still out of trade order after sorting")


def footprint_from_profile(
    profile: MinuteProfile,
    price_bin_ticks: int = 1,
    timeframe: str = "1m",
    *,
    imbalance_ratio: float = DEFAULT_IMBALANCE_RATIO,
    imbalance_min_volume: float = 0.0,
    stacked_levels: int = DEFAULT_STACKED_LEVELS,
) -> Footprint:
    """The footprint `build_footprint` gives on the same trades, built from a minute profile."""
    rules = FootprintRules.make(
        profile.spec,
        price_bin_ticks=price_bin_ticks,
        timeframe=timeframe,
        imbalance_ratio=imbalance_ratio,
        imbalance_min_volume=imbalance_min_volume,
        stacked_levels=stacked_levels,
    )
    return footprint_from_profile_rules(profile, rules)


def footprint_from_profile_rules(profile: MinuteProfile, rules: FootprintRules) -> Footprint:
    if len(profile.minutes) == 0:
        return _empty_footprint(profile.spec, rules)
    lv, mn = profile.levels, profile.minutes
    minute_stats = np.stack([mn[name] for name in _MINUTE_STAT_FIELDS], axis=1)
    cells = _profile_cells(
        lv["time"],
        lv["price"],
        np.stack([lv[name] for name in _LEVEL_CELL_FIELDS], axis=1),
        mn["time"],
        minute_stats,
        rules.tf_ms,
        rules.price_bin_ticks,
    )
    return _assemble(cells, profile.spec, rules)


def minute_profile(
    trades: pd.DataFrame, *, tick_size: float | str, step_size: float | str | None = None
) -> MinuteProfile:
    """Minute profile of one contract's aggTrades frame (step inferred as in build_footprint)."""
    spec, records = frame_columns(trades, tick_size=tick_size, step_size=step_size)
    return profile_from_records(records, spec)


def profile_from_records(records: np.ndarray | TradeColumns, spec: ContractSpec) -> MinuteProfile:
    """Minute profile of one contract's `TRADE_DTYPE` records."""
    if len(records) == 0:
        return MinuteProfile.empty(spec)
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
    return MinuteProfile(spec, levels, minutes)


# ---------------------------------------------------------------- kernels

# Columns of the cell matrix (one row per bar and level) and of the bar-statistics matrix.
_BID, _ASK, _BID_N, _ASK_N = 0, 1, 2, 3
_LEVEL_CELL_FIELDS = ("bid", "ask", "bid_trades", "ask_trades")
_OPEN, _HIGH, _LOW, _CLOSE, _BUY, _SELL, _TRADES, _MAXD, _MIND = range(9)
_MINUTE_STAT_FIELDS = (
    "open", "high", "low", "close", "buy", "sell", "trades", "max_delta", "min_delta",
)  # fmt: skip


@njit(cache=True)
def _level_ranges(lo_ticks, hi_ticks, bin_ticks):
    """Per-bar level range from per-bar tick extremes, and each bar's first cell row."""
    nb = lo_ticks.shape[0]
    lo = np.empty(nb, np.int64)
    off = np.zeros(nb + 1, np.int64)
    for j in range(nb):
        span = 0
        lo[j] = 0
        if hi_ticks[j] >= lo_ticks[j]:
            lo[j] = lo_ticks[j] // bin_ticks
            span = hi_ticks[j] // bin_ticks - lo[j] + 1
        off[j + 1] = off[j] + span
    return lo, off


@njit(cache=True)
def _trade_cells(time, price, qty, buyer_maker, agg, tf, bin_ticks):
    """Dense (bar, level) sums of trades in trade order: two passes, no sort, no branch on side.

    Each bar gets a dense run of cells spanning its own lowest to highest level, so the grid
    stays small however long the range is. The first pass also checks the trade order (time,
    then aggTrade id) and gives up at once, returning False, when it is broken: checking here
    costs nothing, a separate check is a pass of its own.
    """
    n = time.shape[0]
    b0 = time[0] // tf
    t_last = time[n - 1]
    nb = max(t_last // tf - b0 + 1, 0)  # < 0 only when out of order, caught below
    lo_t = np.full(nb, _BIG, np.int64)
    hi_t = np.full(nb, -_BIG, np.int64)
    bar_end = time[0] - 1  # forces the first bar lookup
    b = 0
    cur_lo = _BIG
    cur_hi = -_BIG
    prev_t = time[0]
    prev_a = agg[0]
    for i in range(n):
        t = time[i]
        a = agg[i]
        if t < prev_t or (t == prev_t and a < prev_a) or t > t_last:
            empty = np.zeros((0, 4), np.int64)
            return False, b0, lo_t, lo_t, empty, empty, 0
        prev_t = t
        prev_a = a
        if t >= bar_end:
            if i > 0:
                lo_t[b] = cur_lo
                hi_t[b] = cur_hi
            b = t // tf - b0
            bar_end = (b + b0 + 1) * tf
            cur_lo = _BIG
            cur_hi = -_BIG
        p = price[i]
        cur_lo = min(cur_lo, p)
        cur_hi = max(cur_hi, p)
    lo_t[b] = cur_lo
    hi_t[b] = cur_hi
    lo, off = _level_ranges(lo_t, hi_t, bin_ticks)
    cells = np.zeros((off[nb], 4), np.int64)
    bars = np.zeros((nb, 9), np.int64)
    inv = 1.0 / bin_ticks
    n_traded = 0
    bar_end = time[0] - 1
    b = -1
    base = 0
    o = hh = ll = cl = vol = sell = cnt = run = mx = mn = 0
    for i in range(n):
        t = time[i]
        p = price[i]
        q = qty[i]
        if t >= bar_end:
            if b >= 0:
                _store_bar(bars, b, o, hh, ll, cl, vol, sell, cnt, mx, mn)
            b = t // tf - b0
            bar_end = (b + b0 + 1) * tf
            base = off[b] - lo[b]
            o = hh = ll = p
            vol = sell = cnt = run = 0
            mx = -_BIG
            mn = _BIG
        # floor(p / bin) by a multiply and a correction: an integer division per trade
        # would cost more than the rest of the loop body.
        lvl = p
        if bin_ticks != 1:
            lvl = np.int64(p * inv)
            if lvl * bin_ticks > p:
                lvl -= 1
            elif (lvl + 1) * bin_ticks <= p:
                lvl += 1
        c = base + lvl
        if cells[c, _BID_N] + cells[c, _ASK_N] == 0:
            n_traded += 1
        s = np.int64(buyer_maker[i])  # 1: taker sold -> bid column 0
        cells[c, 1 - s] += q
        cells[c, 3 - s] += 1
        sell += q * s
        vol += q
        run += q - 2 * q * s
        cnt += 1
        cl = p
        hh = max(hh, p)
        ll = min(ll, p)
        mx = max(mx, run)
        mn = min(mn, run)
    _store_bar(bars, b, o, hh, ll, cl, vol, sell, cnt, mx, mn)
    return True, b0, lo, off, cells, bars, n_traded


@njit(cache=True, inline="always")
def _store_bar(bars, b, o, hh, ll, cl, vol, sell, cnt, mx, mn):
    bars[b, _OPEN] = o
    bars[b, _HIGH] = hh
    bars[b, _LOW] = ll
    bars[b, _CLOSE] = cl
    bars[b, _BUY] = vol - sell
    bars[b, _SELL] = sell
    bars[b, _TRADES] = cnt
    bars[b, _MAXD] = mx
    bars[b, _MIND] = mn


@njit(cache=True)
def _profile_cells(l_time, l_price, l_cells, m_time, m_stats, tf, bin_ticks):
    """The same cells and bar statistics as `_trade_cells`, from minute-profile rows."""
    n = l_time.shape[0]
    nm = m_time.shape[0]
    b0 = m_time[0] // tf
    nb = m_time[nm - 1] // tf - b0 + 1
    lo_t = np.full(nb, _BIG, np.int64)
    hi_t = np.full(nb, -_BIG, np.int64)
    for i in range(n):
        b = l_time[i] // tf - b0
        lo_t[b] = min(lo_t[b], l_price[i])
        hi_t[b] = max(hi_t[b], l_price[i])
    lo, off = _level_ranges(lo_t, hi_t, bin_ticks)
    cells = np.zeros((off[nb], 4), np.int64)
    n_traded = 0
    for i in range(n):
        b = l_time[i] // tf - b0
        c = off[b] + l_price[i] // bin_ticks - lo[b]
        if cells[c, _BID_N] + cells[c, _ASK_N] == 0 and l_cells[i, _BID_N] + l_cells[i, _ASK_N] > 0:
            n_traded += 1
        for k in range(4):
            cells[c, k] += l_cells[i, k]
    bars = np.zeros((nb, 9), np.int64)
    b_prev = -1
    for i in range(nm):
        b = m_time[i] // tf - b0
        if b != b_prev:
            b_prev = b
            bars[b, _OPEN] = m_stats[i, _OPEN]
            bars[b, _HIGH] = m_stats[i, _HIGH]
            bars[b, _LOW] = m_stats[i, _LOW]
            bars[b, _MAXD] = -_BIG
            bars[b, _MIND] = _BIG
        # The bar's delta before this minute shifts the minute's own running-delta extremes.
        before = bars[b, _BUY] - bars[b, _SELL]
        bars[b, _MAXD] = max(bars[b, _MAXD], before + m_stats[i, _MAXD])
        bars[b, _MIND] = min(bars[b, _MIND], before + m_stats[i, _MIND])
        bars[b, _CLOSE] = m_stats[i, _CLOSE]
        bars[b, _HIGH] = max(bars[b, _HIGH], m_stats[i, _HIGH])
        bars[b, _LOW] = min(bars[b, _LOW], m_stats[i, _LOW])
        for k in (_BUY, _SELL, _TRADES):
            bars[b, k] += m_stats[i, k]
    return b0, lo, off, cells, bars, n_traded


@njit(cache=True)
def _finish(b0, lo, off, cells, bars, n_traded, tf, ratio, min_steps, stack_n, va_num, va_den):
    """Traded cells as level rows with imbalance flags, and each bar's POC and value area."""
    nb = lo.shape[0]
    lv_time = np.empty(n_traded, np.int64)
    lv_level = np.empty(n_traded, np.int64)
    lv_cells = np.empty((n_traded, 4), np.int64)
    flags = np.zeros((n_traded, 4), np.bool_)  # buy_imb, sell_imb, stacked_buy, stacked_sell
    n_bars = 0
    for b in range(nb):
        if bars[b, _TRADES] > 0:
            n_bars += 1
    bar_idx = np.empty(n_bars, np.int64)
    profile = np.empty((n_bars, 3), np.int64)  # poc, value-area low, value-area high (levels)
    k = 0
    r = 0
    for b in range(nb):
        if bars[b, _TRADES] == 0:
            continue
        start = off[b]
        span = off[b + 1] - start
        total = 0
        best = -1
        best_j = 0
        for j in range(span):
            v = cells[start + j, _BID] + cells[start + j, _ASK]
            total += v
            if v > best:  # strict: a tie keeps the lower level
                best = v
                best_j = j
        a = best_j
        z = best_j
        acc = best
        while acc * va_den < total * va_num:
            below = -1
            if a > 0:
                below = cells[start + a - 1, _BID] + cells[start + a - 1, _ASK]
            above = -1
            if z < span - 1:
                above = cells[start + z + 1, _BID] + cells[start + z + 1, _ASK]
            if below >= above:  # a tie adds the lower level
                a -= 1
                acc += below
            else:
                z += 1
                acc += above
        bar_idx[r] = b
        profile[r, 0] = lo[b] + best_j
        profile[r, 1] = lo[b] + a
        profile[r, 2] = lo[b] + z
        r += 1
        run_b = 0
        run_s = 0
        for j in range(span):
            c = start + j
            traded = cells[c, _BID_N] + cells[c, _ASK_N] > 0
            bi = False
            si = False
            if traded:
                bid_below = cells[c - 1, _BID] if j > 0 else 0
                ask_above = cells[c + 1, _ASK] if j < span - 1 else 0
                bi = cells[c, _ASK] >= min_steps and cells[c, _ASK] >= ratio * bid_below
                si = cells[c, _BID] >= min_steps and cells[c, _BID] >= ratio * ask_above
            # A run ends at the first level that is not imbalanced on its side.
            if not bi and run_b >= stack_n:
                flags[k - run_b : k, 2] = True
            if not si and run_s >= stack_n:
                flags[k - run_s : k, 3] = True
            run_b = run_b + 1 if bi else 0
            run_s = run_s + 1 if si else 0
            if traded:
                lv_time[k] = (b0 + b) * tf
                lv_level[k] = lo[b] + j
                lv_cells[k] = cells[c]
                flags[k, 0] = bi
                flags[k, 1] = si
                k += 1
        if run_b >= stack_n:
            flags[k - run_b : k, 2] = True
        if run_s >= stack_n:
            flags[k - run_s : k, 3] = True
    return lv_time, lv_level, lv_cells, flags, bar_idx, profile


# ---------------------------------------------------------------- assembly


def _assemble(cells: tuple, spec: ContractSpec, rules: FootprintRules) -> Footprint:
    b0, lo, off, cell_sums, bars, n_traded = cells
    lv_time, lv_level, lv_cells, flags, bar_idx, profile = _finish(
        b0, lo, off, cell_sums, bars, n_traded, rules.tf_ms, rules.imbalance_ratio,
        rules.min_steps, rules.stacked_levels, *VALUE_AREA_SHARE,
    )  # fmt: skip
    conv = _GridConv(spec, rules.price_bin_ticks)
    levels = pd.DataFrame(
        {
            "bar_time": lv_time,
            "price": conv.level(lv_level),
            "bid_volume": conv.qty(lv_cells[:, _BID]),
            "ask_volume": conv.qty(lv_cells[:, _ASK]),
            "bid_trades": lv_cells[:, _BID_N],
            "ask_trades": lv_cells[:, _ASK_N],
            "buy_imbalance": flags[:, 0],
            "sell_imbalance": flags[:, 1],
            "stacked_buy": flags[:, 2],
            "stacked_sell": flags[:, 3],
        },
        copy=False,
    )
    stats = bars[bar_idx]
    buy, sell = stats[:, _BUY], stats[:, _SELL]
    delta = buy - sell
    out = pd.DataFrame(
        {
            "bar_time": (b0 + bar_idx) * rules.tf_ms,
            "open": conv.tick(stats[:, _OPEN]),
            "high": conv.tick(stats[:, _HIGH]),
            "low": conv.tick(stats[:, _LOW]),
            "close": conv.tick(stats[:, _CLOSE]),
            "volume": conv.qty(buy + sell),
            "buy_volume": conv.qty(buy),
            "sell_volume": conv.qty(sell),
            "delta": conv.qty(delta),
            "trades": stats[:, _TRADES],
            "poc": conv.level(profile[:, 0]),
            "value_area_low": conv.level(profile[:, 1]),
            "value_area_high": conv.level(profile[:, 2]),
            "max_delta": conv.qty(stats[:, _MAXD]),
            "min_delta": conv.qty(stats[:, _MIND]),
            "cvd": conv.qty(np.cumsum(delta)),
        }
    )
    return Footprint(levels, out, spec, rules.price_bin_ticks, rules.timeframe)


class _GridConv:
    """Integer grid values of one contract to floats (one correctly rounded division each)."""

    def __init__(self, spec: ContractSpec, bin_ticks: int) -> None:
        self.tick_units = spec.tick_units
        self.level_units = spec.tick_units * bin_ticks
        self.price_scale = 10.0**spec.price_decimals
        self.step_units = spec.step_units
        self.qty_scale = 10.0**spec.qty_decimals

    def tick(self, ticks: np.ndarray) -> np.ndarray:
        return (ticks * self.tick_units) / self.price_scale

    def level(self, levels: np.ndarray) -> np.ndarray:
        return (levels * self.level_units) / self.price_scale

    def qty(self, steps: np.ndarray) -> np.ndarray:
        return (steps * self.step_units) / self.qty_scale


def _empty_footprint(spec: ContractSpec, rules: FootprintRules) -> Footprint:
    int_cols = {"bar_time", "bid_trades", "ask_trades", "trades"}
    bool_cols = {"buy_imbalance", "sell_imbalance", "stacked_buy", "stacked_sell"}

    def frame(columns: Sequence[str]) -> pd.DataFrame:
        def dtype(c: str) -> type:
            return np.int64 if c in int_cols else bool if c in bool_cols else np.float64

        return pd.DataFrame({c: np.zeros(0, dtype=dtype(c)) for c in columns})

    return Footprint(
        frame(LEVEL_COLUMNS), frame(BAR_COLUMNS), spec, rules.price_bin_ticks, rules.timeframe
    )


# ---------------------------------------------------------------- incremental


class LiveFootprint:
    """Footprints of every contract, kept up to date from `TRADE_DTYPE` micro-batches.

    Closed minutes are kept per contract as `MinuteProfile`s (lossless, tick level); the raw
    trades of the minutes not yet closed are kept for all contracts together, so a batch costs
    one append whatever the number of contracts. A minute closes `seal_lag_ms` after its end, as
    seen by the latest trade time of any contract; until then out-of-order trades for it are
    merged exactly. A trade for an already closed minute cannot be merged exactly: it is dropped
    and counted in `late_trades`. Minutes more than `history_minutes` before the latest one are
    dropped. `footprint()` builds the view (current bin and timeframe, or the ones passed) from
    those minutes, so it equals `build_footprint` over the retained trades.
    """

    def __init__(
        self,
        registry: SymbolRegistry,
        *,
        price_bin_ticks: int = 1,
        timeframe: str = "1m",
        history_minutes: int = 240,
        seal_lag_ms: int = 60_000,
        imbalance_ratio: float = DEFAULT_IMBALANCE_RATIO,
        imbalance_min_volume: float = 0.0,
        stacked_levels: int = DEFAULT_STACKED_LEVELS,
    ) -> None:
        if history_minutes < 1:
            raise ValueError(f"history_minutes must be >= 1, got {history_minutes}")
        if seal_lag_ms < 0:
            raise ValueError(f"seal_lag_ms must be >= 0, got {seal_lag_ms}")
        self.registry = registry
        self.history_minutes = int(history_minutes)
        self.seal_lag_ms = int(seal_lag_ms)
        self._imbalance = (imbalance_ratio, imbalance_min_volume, stacked_levels)
        self.price_bin_ticks = 1
        self.timeframe = "1m"
        self.set_view(price_bin_ticks, timeframe)
        self._sealed: dict[int, list[MinuteProfile]] = {}
        self._open: list[np.ndarray] = []  # TRADE_DTYPE chunks, minutes from _sealed_until on
        self._sealed_until = -(2**62)
        self._last_time = -(2**62)
        self.late_trades = 0
        self.unknown_symbol_trades = 0

    def set_view(self, price_bin_ticks: int | None = None, timeframe: str | None = None) -> None:
        """Change the bin and/or timeframe of `footprint()`; raises ValueError if invalid."""
        if price_bin_ticks is not None:
            self.price_bin_ticks = check_price_bin(price_bin_ticks)
        if timeframe is not None:
            timeframe_ms(timeframe)
            self.timeframe = timeframe

    def update(self, batch: np.ndarray) -> np.ndarray:
        """Add a micro-batch (all contracts mixed); returns the indices of the contracts in it."""
        if batch.dtype != TRADE_DTYPE:
            raise ValueError(f"expected a TRADE_DTYPE batch, got {batch.dtype}")
        known = (batch["sym"] >= 0) & (batch["sym"] < len(self.registry))
        if not known.all():
            self.unknown_symbol_trades += int((~known).sum())
            log.warning("dropped %d trades of symbols outside the registry", int((~known).sum()))
            batch = batch[known]
        late = batch["time"] < self._sealed_until
        if late.any():
            self.late_trades += int(late.sum())
            log.warning("dropped %d trades for minutes already closed", int(late.sum()))
            batch = batch[~late]
        if len(batch) == 0:
            return np.zeros(0, dtype=np.int32)
        self._open.append(batch.copy())
        self._last_time = max(self._last_time, int(batch["time"].max()))
        cutoff = (self._last_time - self.seal_lag_ms) // MINUTE_MS * MINUTE_MS
        if cutoff > self._sealed_until:
            self._seal(cutoff)
        return np.unique(batch["sym"])

    def _seal(self, cutoff: int) -> None:
        """Turn the raw trades of minutes before `cutoff` into per-contract profiles."""
        pending = np.concatenate(self._open)
        closing = pending["time"] < cutoff
        self._open = [pending[~closing]]
        self._sealed_until = cutoff
        done = in_trade_order(pending[closing])
        starts = np.flatnonzero(np.r_[True, done["sym"][1:] != done["sym"][:-1]])
        for lo, hi in zip(starts, np.r_[starts[1:], len(done)], strict=True):
            if hi > lo:
                sym = int(done["sym"][lo])
                part = profile_from_records(done[lo:hi], self.registry.spec(sym))
                self._sealed.setdefault(sym, []).append(part)
        keep_from = (self._last_time // MINUTE_MS - self.history_minutes + 1) * MINUTE_MS
        for sym, chunks in list(self._sealed.items()):
            if chunks[0].minutes["time"][0] < keep_from:
                kept = [c for c in (chunk.since(keep_from) for chunk in chunks) if len(c.minutes)]
                if kept:
                    self._sealed[sym] = kept
                else:
                    del self._sealed[sym]

    def profile(self, symbol: str | int) -> MinuteProfile:
        """All retained minutes of one contract, closed and open."""
        sym = symbol if isinstance(symbol, int | np.integer) else self.registry.index(symbol)
        if sym is None or not 0 <= sym < len(self.registry):
            raise ValueError(f"unknown symbol {symbol!r}")
        spec = self.registry.spec(int(sym))
        open_trades = [chunk[chunk["sym"] == sym] for chunk in self._open]
        open_part = profile_from_records(
            np.concatenate(open_trades) if open_trades else np.zeros(0, TRADE_DTYPE), spec
        )
        return MinuteProfile.concat(spec, [*self._sealed.get(int(sym), []), open_part])

    def footprint(
        self,
        symbol: str | int,
        price_bin_ticks: int | None = None,
        timeframe: str | None = None,
    ) -> Footprint:
        """Footprint of one contract at the current view (or the bin/timeframe passed)."""
        profile = self.profile(symbol)
        ratio, min_volume, stacked = self._imbalance
        rules = FootprintRules.make(
            profile.spec,
            price_bin_ticks=self.price_bin_ticks if price_bin_ticks is None else price_bin_ticks,
            timeframe=self.timeframe if timeframe is None else timeframe,
            imbalance_ratio=ratio,
            imbalance_min_volume=min_volume,
            stacked_levels=stacked,
        )
        return footprint_from_profile_rules(profile, rules)
