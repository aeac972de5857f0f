"""Order-flow signals of footprint bars, for every contract: the definitions, exact on the grid.

Each closed bar of a contract (1m, and 5m/15m from the same minutes) is binned at the contract's
own level: the automatic bin its footprint opens with (`footprint.auto_bin` over the price span
of the last `AUTO_BIN_BARS` bars, this one included), or a fixed bin. On that grid, with
A = taker-buy and B = taker-sell step units per level, lo/hi the lowest/highest traded level and
C the level of the bar's last trade (docs/analytics.md, "Signals", has the long form):

* stacked_imbalance (buy/sell): a maximal run of >= `stacked_levels` adjacent traded levels that
  are all buy (all sell) diagonal imbalances as the footprint flags them.
* unfinished_auction (high/low): both sides traded at the bar's highest (lowest) level.
* absorption (buy/sell), D3: hi - lo >= 2 and, for buy, some level in [lo, lo + k] holds
  B >= alpha x the bar's mean volume per traded level while 2 (C - lo) >= hi - lo; sell mirrors
  with A in [hi - k, hi] and 2 (hi - C) >= hi - lo.
* exhaustion (high/low), D4: the N levels from the extreme inward all traded and the aggressive
  side rises strictly away from the extreme (A from hi down, B from lo up).
* delta_divergence (buy/sell), D5 bar form: against the bar right before it, a higher high and
  higher low with negative delta (sell), a lower low and lower high with positive delta (buy).
* naked_poc_touch (high/low), D6: the bar trades through the POC of an earlier bar (not the one
  right before it) that no bar had traded through since, within `naked_poc_hours`; high when
  the POC lies at or above the bar's open.

Significance is a separate layer: every signal carries `strength` = its volume / the contract's
recent volume per traded level (bars of the last `reference_bars` slots, this one included).
The definitions never look at it. Integers throughout; floats are made in `signal_frame`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipelines.analytics.footprint import (
    AUTO_BIN_BARS,
    DEFAULT_IMBALANCE_RATIO,
    DEFAULT_STACKED_LEVELS,
    auto_bin,
    check_price_bin,
    timeframe_ms,
)
from pipelines.analytics.profile import MinuteProfile
from pipelines.analytics.tradeframe import Grid
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.dtypes import PROFILE_MINUTE_DTYPE
from pipelines.records.timeunits import HOUR_MS, MINUTE_MS

SIGNAL_TIMEFRAMES = ("1m", "5m", "15m")
KINDS = (
    "stacked_imbalance",
    "unfinished_auction",
    "absorption",
    "exhaustion",
    "delta_divergence",
    "naked_poc_touch",
)
SIDES = ("buy", "sell", "high", "low")
# What a signal says of the contract's direction, for the net buy/sell ranking: an unfinished
# auction tends to be revisited in its direction, exhaustion turns it; a naked POC says nothing.
DIRECTION = {
    ("stacked_imbalance", "buy"): 1, ("stacked_imbalance", "sell"): -1,
    ("unfinished_auction", "high"): 1, ("unfinished_auction", "low"): -1,
    ("absorption", "buy"): 1, ("absorption", "sell"): -1,
    ("exhaustion", "high"): -1, ("exhaustion", "low"): 1,
    ("delta_divergence", "buy"): 1, ("delta_divergence", "sell"): -1,
    ("naked_poc_touch", "high"): 0, ("naked_poc_touch", "low"): 0,
}  # fmt: skip

_STACKED, _AUCTION, _ABSORPTION, _EXHAUSTION, _DIVERGENCE, _NAKED_POC = range(len(KINDS))
_BUY, _SELL, _HIGH, _LOW = range(len(SIDES))

SIGNAL_DTYPE = np.dtype(
    [
        ("sym", "i4"),
        ("bar_time", "i8"),  # bar open, epoch ms
        ("tf_ms", "i8"),
        ("bin_ticks", "i8"),
        ("kind", "i1"),  # index into KINDS
        ("side", "i1"),  # index into SIDES
        ("low_ticks", "i8"),  # lower edge of the signal's lowest level, ticks
        ("high_ticks", "i8"),  # lower edge of its highest level
        ("levels", "i4"),
        ("volume", "i8"),  # step units
        ("notional", "i8"),  # sum of ticks x steps
        ("strength", "f8"),  # volume / the contract's recent volume per traded level
    ]
)
BAR_STATS_DTYPE = np.dtype(
    [
        ("sym", "i4"),
        ("bar_time", "i8"),
        ("tf_ms", "i8"),
        ("bin_ticks", "i8"),
        ("close", "i8"),  # ticks
        ("volume", "i8"),  # steps
        ("delta", "i8"),  # buy - sell, steps
        ("notional", "i8"),  # ticks x steps
        ("levels", "i4"),  # traded levels at the bin
        ("buy_imbalances", "i4"),
        ("sell_imbalances", "i4"),
        ("rvol", "f8"),  # volume / mean volume of the previous `reference_bars` slots (NaN: none)
    ]
)
SIGNAL_COLUMNS = (
    "symbol", "bar_time", "timeframe", "bin_ticks", "kind", "side", "price_low", "price_high",
    "levels", "volume", "notional", "strength",
)  # fmt: skip
BAR_STATS_COLUMNS = (
    "symbol", "bar_time", "timeframe", "bin_ticks", "close", "volume", "delta", "delta_pct",
    "notional", "levels", "buy_imbalances", "sell_imbalances", "rvol",
)  # fmt: skip
TIMEFRAME_NAMES = {timeframe_ms(tf): tf for tf in SIGNAL_TIMEFRAMES}


@dataclass(frozen=True, slots=True)
class SignalRules:
    """The signals' parameters (the defaults are docs/analytics.md's)."""

    imbalance_ratio: float = DEFAULT_IMBALANCE_RATIO
    min_steps: int = 1  # own-side minimum of a diagonal imbalance, step units
    stacked_levels: int = DEFAULT_STACKED_LEVELS
    absorption_ratio: int = 3  # alpha: times the bar's mean volume per traded level
    absorption_levels: int = 2  # k: levels from the extreme
    exhaustion_levels: int = 5  # N
    naked_poc_hours: int = 24
    reference_bars: int = 60
    bin_ticks: int | None = None  # None: the automatic bin

    def __post_init__(self) -> None:
        if self.bin_ticks is not None:
            check_price_bin(self.bin_ticks)
        if self.stacked_levels < 2 or self.exhaustion_levels < 2 or self.absorption_levels < 0:
            raise ValueError("stacked/exhaustion levels must be >= 2, absorption levels >= 0")


# ---------------------------------------------------------------- one bar


@dataclass(slots=True)
class _Bar:
    """One closed bar on its bin: dense per-level sums from lo to hi (integers)."""

    time: int
    bin: int
    lo: int  # level of the lowest trade
    ask: np.ndarray  # taker buys per level, steps
    bid: np.ndarray  # taker sells
    ask_notional: np.ndarray  # ticks x steps
    bid_notional: np.ndarray
    traded: np.ndarray  # bool per level
    stats: np.void  # the bar's PROFILE_MINUTE_DTYPE statistics (open..close ticks, buy, sell)

    @property
    def hi(self) -> int:
        return self.lo + len(self.ask) - 1


def _bin_bar(time: int, bin_ticks: int, levels: np.ndarray, stats: np.void) -> _Bar:
    """Tick-profile rows of one bar (any order) summed into levels of `bin_ticks`."""
    price = levels["price"]
    level = price // bin_ticks
    lo = int(level.min())
    n = int(level.max()) - lo + 1
    idx = level - lo
    order = np.argsort(idx, kind="stable")
    idx = idx[order]
    starts = np.flatnonzero(np.concatenate(([True], idx[1:] != idx[:-1])))
    at = idx[starts]

    def dense(values: np.ndarray) -> np.ndarray:
        out = np.zeros(n, np.int64)
        out[at] = np.add.reduceat(values[order], starts)  # exact int64 sums
        return out

    ask, bid = levels["ask"], levels["bid"]
    counts = dense(levels["ask_trades"] + levels["bid_trades"])
    return _Bar(
        time, bin_ticks, lo, dense(ask), dense(bid), dense(price * ask), dense(price * bid),
        counts > 0, stats,
    )  # fmt: skip


def _runs(flags: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """Maximal runs of True of at least `min_len`, as (first, last) indices."""
    padded = np.zeros(len(flags) + 2, np.int8)
    padded[1:-1] = flags
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)
            if b - a >= min_len]  # fmt: skip


@dataclass(slots=True)
class _Found:
    kind: int
    side: int
    first: int  # level indices from lo (naked POC: absolute ticks, see `ticks`)
    last: int
    levels: int
    volume: int
    notional: int
    ticks: tuple[int, int] | None = None  # (low, high) lower-edge ticks when not from levels


def _imbalances(bar: _Bar, rules: SignalRules) -> tuple[np.ndarray, np.ndarray]:
    """The footprint's diagonal imbalance flags per level (footprint_kernels._finish)."""
    zero = np.zeros(1, np.int64)
    bid_below = np.concatenate((zero, bar.bid[:-1]))
    ask_above = np.concatenate((bar.ask[1:], zero))
    ratio = rules.imbalance_ratio
    buy = bar.traded & (bar.ask >= rules.min_steps) & (bar.ask >= ratio * bid_below)
    sell = bar.traded & (bar.bid >= rules.min_steps) & (bar.bid >= ratio * ask_above)
    return buy, sell


def _level_signals(bar: _Bar, rules: SignalRules, buy: np.ndarray, sell: np.ndarray) -> list:
    """Stacked imbalances, auctions, absorption and exhaustion of one bar (no history)."""
    found: list[_Found] = []
    ask, bid = bar.ask, bar.bid
    for flags, side, vol, notion in ((buy, _BUY, ask, bar.ask_notional),
                                     (sell, _SELL, bid, bar.bid_notional)):  # fmt: skip
        for a, b in _runs(flags, rules.stacked_levels):
            found.append(_Found(_STACKED, side, a, b, b - a + 1,
                                int(vol[a : b + 1].sum()), int(notion[a : b + 1].sum())))  # fmt: skip
    top = len(ask) - 1
    volume = ask + bid
    notional = bar.ask_notional + bar.bid_notional
    for j, side in ((top, _HIGH), (0, _LOW)):
        if ask[j] > 0 and bid[j] > 0:
            found.append(_Found(_AUCTION, side, j, j, 1, int(volume[j]), int(notional[j])))
    span = top  # hi - lo
    if span >= 2:
        total = int(volume.sum())
        n_traded = int(np.count_nonzero(volume))
        close = int(bar.stats["close"]) // bar.bin - bar.lo
        k = rules.absorption_levels
        for side, idx, vol, notion, room in (
            (_BUY, range(0, min(k, top) + 1), bid, bar.bid_notional, close),
            (_SELL, range(max(top - k, 0), top + 1), ask, bar.ask_notional, top - close),
        ):
            if 2 * room < span:
                continue
            hits = [j for j in idx if vol[j] * n_traded >= rules.absorption_ratio * total]
            if hits:
                found.append(_Found(_ABSORPTION, side, hits[0], hits[-1], len(hits),
                                    int(vol[hits].sum()), int(notion[hits].sum())))  # fmt: skip
    n = rules.exhaustion_levels
    if top + 1 >= n:
        for side, first, last, vol, notion in (
            (_HIGH, top - n + 1, top, ask[::-1], bar.ask_notional),  # from hi downward
            (_LOW, 0, n - 1, bid, bar.bid_notional),
        ):
            run = vol[:n]
            if np.all(volume[first : last + 1] > 0) and np.all(np.diff(run) > 0):
                found.append(_Found(_EXHAUSTION, side, first, last, n, int(run.sum()),
                                    int(notion[first : last + 1].sum())))  # fmt: skip
    return found


# ---------------------------------------------------------------- one contract, one timeframe


@dataclass(slots=True)
class _NakedPoc:
    bar_time: int
    low_ticks: int  # the POC level's tick range
    high_ticks: int
    volume: int
    notional: int


@dataclass(slots=True)
class _Slot:
    time: int
    low: int  # ticks
    high: int
    volume: int
    levels: int


@dataclass
class TimeframeSignals:
    """One contract's signal state on one timeframe: the bars it must remember.

    `close_bar` takes a closed bar's tick profile and returns its signals and statistics; the
    live tracker and the pure `signals_from_profile` both go through it bar by bar.
    """

    sym: int
    tf_ms: int
    rules: SignalRules
    recent: deque = field(default_factory=deque)  # _Slot of the last reference/auto-bin bars
    naked: list = field(default_factory=list)  # _NakedPoc, oldest first
    first_bar: int | None = None

    def close_bar(self, time: int, levels: np.ndarray, stats: np.void) -> tuple[list, np.void]:
        rules, tf = self.rules, self.tf_ms
        if self.first_bar is None:
            self.first_bar = time
        keep = max(rules.reference_bars, AUTO_BIN_BARS)
        while self.recent and self.recent[0].time < time - keep * tf:
            self.recent.popleft()
        low, high = int(stats["low"]), int(stats["high"])
        window = [s for s in self.recent if s.time > time - AUTO_BIN_BARS * tf]
        span = max([high, *(s.high for s in window)]) - min([low, *(s.low for s in window)])
        bin_ticks = rules.bin_ticks or auto_bin(span)
        bar = _bin_bar(time, bin_ticks, levels, stats)
        buy, sell = _imbalances(bar, rules)
        found = _level_signals(bar, rules, buy, sell)
        delta = int(stats["buy"]) - int(stats["sell"])
        previous = self.recent[-1] if self.recent and self.recent[-1].time == time - tf else None
        if previous is not None:
            p_lo, p_hi = previous.low // bin_ticks, previous.high // bin_ticks
            up = bar.hi > p_hi and bar.lo > p_lo and delta < 0
            down = bar.lo < p_lo and bar.hi < p_hi and delta > 0
            if up or down:
                notional = int(bar.ask_notional.sum()) - int(bar.bid_notional.sum())
                found.append(_Found(_DIVERGENCE, _SELL if up else _BUY, 0, len(bar.ask) - 1,
                                    len(bar.ask), abs(delta), abs(notional)))  # fmt: skip
        found += self._naked_pocs(bar, time, low, high)
        n_levels = int(np.count_nonzero(bar.traded))
        total = int(stats["buy"]) + int(stats["sell"])
        reference_bars = rules.reference_bars
        # The reference: volume per traded level over this bar and the slots before it.
        last = [s for s in self.recent if s.time > time - reference_bars * tf]
        reference = (total + sum(s.volume for s in last)) / (n_levels + sum(s.levels for s in last))
        # RVOL: against the mean of the previous slots (empty ones count as 0) since the first.
        prior = min(reference_bars, (time - self.first_bar) // tf)
        before = sum(s.volume for s in self.recent if s.time >= time - reference_bars * tf)
        rvol = total * prior / before if prior and before else np.nan
        self.recent.append(_Slot(time, low, high, total, n_levels))
        rows = np.array(
            [
                (self.sym, time, tf, bin_ticks, f.kind, f.side,
                 *(f.ticks or ((bar.lo + f.first) * bin_ticks, (bar.lo + f.last) * bin_ticks)),
                 f.levels, f.volume, f.notional, f.volume / reference)
                for f in found
            ],
            SIGNAL_DTYPE,
        )  # fmt: skip
        bar_stats = np.array(
            (self.sym, time, tf, bin_ticks, int(stats["close"]), total, delta,
             int(bar.ask_notional.sum() + bar.bid_notional.sum()), n_levels,
             int(buy.sum()), int(sell.sum()), rvol),
            BAR_STATS_DTYPE,
        )[()]  # fmt: skip
        return rows, bar_stats

    def _naked_pocs(self, bar: _Bar, time: int, low: int, high: int) -> list[_Found]:
        """Touches of earlier naked POCs; then this bar's POC joins them."""
        found: list[_Found] = []
        oldest = time - self.rules.naked_poc_hours * HOUR_MS
        still: list[_NakedPoc] = []
        opened = int(bar.stats["open"])
        for poc in self.naked:
            if poc.bar_time < oldest:
                continue
            if low <= poc.high_ticks and high >= poc.low_ticks:
                if poc.bar_time < time - self.tf_ms:  # filled by the next bar: never naked
                    side = _HIGH if poc.high_ticks >= opened else _LOW
                    found.append(_Found(_NAKED_POC, side, 0, 0, 1, poc.volume, poc.notional,
                                        (poc.low_ticks, poc.low_ticks)))  # fmt: skip
                continue
            still.append(poc)
        volume = bar.ask + bar.bid
        j = int(np.argmax(volume))  # the first maximum: a tie goes to the lower level
        level_low = (bar.lo + j) * bar.bin
        still.append(_NakedPoc(time, level_low, level_low + bar.bin - 1, int(volume[j]),
                               int(bar.ask_notional[j] + bar.bid_notional[j])))  # fmt: skip
        self.naked = still
        return found


# ---------------------------------------------------------------- one contract, all timeframes


class ContractSignals:
    """One contract's signals on every timeframe, fed one closed minute at a time.

    A coarser bar closes when a minute of a later bar arrives, or by `close_before(t)` once its
    end is at or before t (the tracker passes its clock less the close delay).
    """

    def __init__(
        self, sym: int, rules: SignalRules, timeframes: Sequence[str], *, first_ms: int = 0
    ) -> None:
        self.states = [TimeframeSignals(sym, timeframe_ms(tf), rules) for tf in timeframes]
        # Bars opening before it would hold only part of their minutes: they are left out.
        self.first_ms = first_ms
        # Per coarse timeframe: (bar open, [levels of its minutes], [minute stats]) or None.
        self._open: list[tuple[int, list, list] | None] = [None] * len(self.states)

    def add_minute(self, levels: np.ndarray, minute: np.void) -> tuple[list, list]:
        signals, stats = [], []
        time = int(minute["time"])
        for i, state in enumerate(self.states):
            bar_time = time - time % state.tf_ms
            if bar_time < self.first_ms:
                continue
            held = self._open[i]
            if held is not None and held[0] != bar_time:
                self._close(i, signals, stats)
                held = None
            if held is None:
                held = self._open[i] = (bar_time, [], [])
            held[1].append(levels)
            held[2].append(minute)
            if time + MINUTE_MS == bar_time + state.tf_ms:  # its last minute
                self._close(i, signals, stats)
        return signals, stats

    def add_minutes(self, levels: np.ndarray, minutes: np.ndarray) -> tuple[list, list]:
        """Closed minutes of a profile (its `levels` and `minutes` rows), oldest first."""
        signals, stats = [], []
        bounds = [*np.searchsorted(levels["time"], minutes["time"]).tolist(), len(levels)]
        for i in range(len(minutes)):
            s, b = self.add_minute(levels[bounds[i] : bounds[i + 1]], minutes[i])
            signals += s
            stats += b
        return signals, stats

    def close_before(self, time_ms: int) -> tuple[list, list]:
        """Close the open bars that end at or before `time_ms`."""
        signals, stats = [], []
        for i, state in enumerate(self.states):
            held = self._open[i]
            if held is not None and held[0] + state.tf_ms <= time_ms:
                self._close(i, signals, stats)
        return signals, stats

    def _close(self, i: int, signals: list, stats: list) -> None:
        bar_time, levels, minutes = self._open[i]
        self._open[i] = None
        rows, bar_stats = self.states[i].close_bar(
            bar_time, np.concatenate(levels), _combine_minutes(minutes)
        )
        signals.append(rows)
        stats.append(bar_stats)


def _combine_minutes(minutes: list[np.void]) -> np.void:
    """The statistics of consecutive minutes as one bar's (open, high, low, close, buy, sell)."""
    if len(minutes) == 1:
        return minutes[0]
    out = np.zeros(1, PROFILE_MINUTE_DTYPE)[0]
    out["time"] = minutes[0]["time"]
    out["open"] = minutes[0]["open"]
    out["close"] = minutes[-1]["close"]
    out["high"] = max(int(m["high"]) for m in minutes)
    out["low"] = min(int(m["low"]) for m in minutes)
    for name in ("buy", "sell", "trades"):
        out[name] = sum(int(m[name]) for m in minutes)
    return out


# ---------------------------------------------------------------- pure functions


def signals_from_profile(
    profile: MinuteProfile,
    *,
    sym: int = 0,
    timeframes: Sequence[str] = SIGNAL_TIMEFRAMES,
    rules: SignalRules | None = None,
    emit_from: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(SIGNAL_DTYPE rows, BAR_STATS_DTYPE rows) of every bar of one contract's minute profile.

    Bars are taken in time order with the history before them (`emit_from`: bars opening
    earlier only warm up the history, as a research day's previous day does). The last bars
    close at the end of the profile.
    """
    rules = rules or SignalRules()
    state = ContractSignals(sym, rules, timeframes)
    signals, stats = state.add_minutes(profile.levels, profile.minutes)
    s, b = state.close_before(np.iinfo(np.int64).max)
    signals += s
    stats += b
    rows = np.concatenate(signals) if signals else np.zeros(0, SIGNAL_DTYPE)
    bar_rows = np.array(stats, BAR_STATS_DTYPE) if stats else np.zeros(0, BAR_STATS_DTYPE)
    if emit_from is not None:
        rows = rows[rows["bar_time"] >= emit_from]
        bar_rows = bar_rows[bar_rows["bar_time"] >= emit_from]
    order = np.lexsort((rows["side"], rows["kind"], rows["tf_ms"], rows["bar_time"]))
    return rows[order], np.sort(bar_rows, order=["bar_time", "tf_ms"])


def signal_frame(rows: np.ndarray, registry: SymbolRegistry) -> pd.DataFrame:
    """SIGNAL_DTYPE rows as the output schema: floats once, names for kinds and sides."""
    grid = Grid.of(registry)
    sym = rows["sym"]
    bin_ticks = rows["bin_ticks"]
    return pd.DataFrame(
        {
            "symbol": _symbols(sym, registry),
            "bar_time": rows["bar_time"],
            "timeframe": _names(rows["tf_ms"], TIMEFRAME_NAMES),
            "bin_ticks": bin_ticks,
            "kind": np.array(KINDS, dtype=object)[rows["kind"]],
            "side": np.array(SIDES, dtype=object)[rows["side"]],
            "price_low": grid.price(sym, rows["low_ticks"]),
            "price_high": grid.price(sym, rows["high_ticks"]),
            "levels": rows["levels"].astype(np.int64),
            "volume": grid.qty(sym, rows["volume"]),
            "notional": grid.quote(sym, rows["notional"]),
            "strength": rows["strength"],
        },
        columns=list(SIGNAL_COLUMNS),
    )


def bar_stats_frame(rows: np.ndarray, registry: SymbolRegistry) -> pd.DataFrame:
    """BAR_STATS_DTYPE rows as floats: the screen columns per contract and bar."""
    grid = Grid.of(registry)
    sym = rows["sym"]
    volume = grid.qty(sym, rows["volume"])
    delta = grid.qty(sym, rows["delta"])
    with np.errstate(invalid="ignore", divide="ignore"):
        delta_pct = np.where(rows["volume"] > 0, 100.0 * rows["delta"] / rows["volume"], np.nan)
    return pd.DataFrame(
        {
            "symbol": _symbols(sym, registry),
            "bar_time": rows["bar_time"],
            "timeframe": _names(rows["tf_ms"], TIMEFRAME_NAMES),
            "bin_ticks": rows["bin_ticks"],
            "close": grid.price(sym, rows["close"]),
            "volume": volume,
            "delta": delta,
            "delta_pct": delta_pct,
            "notional": grid.quote(sym, rows["notional"]),
            "levels": rows["levels"].astype(np.int64),
            "buy_imbalances": rows["buy_imbalances"].astype(np.int64),
            "sell_imbalances": rows["sell_imbalances"].astype(np.int64),
            "rvol": rows["rvol"],
        },
        columns=list(BAR_STATS_COLUMNS),
    )


def _symbols(sym: np.ndarray, registry: SymbolRegistry) -> np.ndarray:
    return np.array(registry.symbols, dtype=object)[sym] if len(sym) else np.zeros(0, object)


def _names(values: np.ndarray, names: dict[int, str]) -> np.ndarray:
    return np.array([names.get(int(v), f"{int(v) // MINUTE_MS}m") for v in values], dtype=object)


def direction(kinds: Iterable[str], sides: Iterable[str]) -> np.ndarray:
    """+1 (buyers), -1 (sellers) or 0 per signal, for the net ranking (DIRECTION)."""
    return np.array([DIRECTION[(k, s)] for k, s in zip(kinds, sides, strict=True)], np.int64)
