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

import numpy as np
import pandas as pd

from pipelines.analytics.footprint_kernels import (
    _ASK,
    _ASK_N,
    _BID,
    _BID_N,
    _BUY,
    _CLOSE,
    _HIGH,
    _LEVEL_CELL_FIELDS,
    _LOW,
    _MAXD,
    _MIND,
    _MINUTE_STAT_FIELDS,
    _OPEN,
    _SELL,
    _TRADES,
    _cells_in_trade_order,
    _finish,
    _profile_cells,
)
from pipelines.analytics.profile import MinuteProfile
from pipelines.analytics.tradeframe import TradeColumns, frame_columns
from pipelines.binance.contracts import ContractSpec
from pipelines.records.timeunits import MINUTE_MS

log = logging.getLogger(__name__)

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
BIN_MULTIPLES = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2500, 5000, 10000)
# An automatic bin fits the price range of the last bars into rows that can carry numbers.
AUTO_BIN_BARS = 16
AUTO_BIN_ROWS = 40

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


def auto_bin(span_ticks: int, max_rows: int = AUTO_BIN_ROWS) -> int:
    """The smallest bin multiple that shows a price span of `span_ticks` in `max_rows` levels
    (the footprint's automatic level, over the last `AUTO_BIN_BARS` bars)."""
    for multiple in BIN_MULTIPLES:
        if span_ticks // multiple + 1 <= max_rows:
            return multiple
    return BIN_MULTIPLES[-1]


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


def kline_bars(klines: pd.DataFrame, spec: ContractSpec, tf_ms: int) -> pd.DataFrame:
    """Footprint bars (BAR_COLUMNS) of a contract's klines of the bar's own interval
    (`binance.parsers.parse_klines`), for the minutes the engine holds no trades of.

    A kline carries the bar's OHLC, base volume and taker-buy base volume, so the candle, its
    volume, buys, sells and delta are those of its trades, exactly (prices and quantities go to
    ticks and steps first, and back to floats like every footprint's). It has no levels: POC,
    value area and the running delta's extremes are NaN. `trades` is the kline's count, which
    counts the exchange's trades, not aggregate trades. Klines without trades give no bar, as a
    minute without trades gives none from trades.
    """
    klines = klines[
        (klines["trades"].to_numpy() > 0) & (klines["open_time"].to_numpy() % tf_ms == 0)
    ]
    conv = _GridConv(spec, 1)

    def ticks(column: str) -> np.ndarray:
        return conv.tick(spec.price_to_ticks(klines[column].to_numpy()))

    volume = spec.qty_to_steps(klines["volume"].to_numpy())
    buy = spec.qty_to_steps(klines["taker_buy_volume"].to_numpy())
    nan = np.full(len(klines), np.nan)
    return pd.DataFrame(
        {
            "bar_time": klines["open_time"].to_numpy(np.int64),
            "open": ticks("open"),
            "high": ticks("high"),
            "low": ticks("low"),
            "close": ticks("close"),
            "volume": conv.qty(volume),
            "buy_volume": conv.qty(buy),
            "sell_volume": conv.qty(volume - buy),
            "delta": conv.qty(2 * buy - volume),
            "trades": klines["trades"].to_numpy(np.int64),
            "poc": nan,
            "value_area_low": nan,
            "value_area_high": nan,
            "max_delta": nan,
            "min_delta": nan,
            "cvd": conv.qty(np.cumsum(2 * buy - volume)),
        }
    )


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
