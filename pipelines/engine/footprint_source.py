"""The footprint of one contract, kept current for a view or a notebook: `FootprintSource`.

It answers "the footprint of the loaded range at this resolution" from the engine (raw buffer
and store, always from the original trades), and keeps it current at the least cost:

* closed bars are built once, when they close, and kept; a bar closes when the contract trades
  in the next bar (or, if it is quiet, CLOSE_AFTER_MS after its end), so trades still on their
  way when the clock passes its end are in it; later ones rebuild the range;
* the live bar is rebuilt from its own trades on each `refresh()`;
* a change of symbol, timeframe, bin or ratio, or trades arriving for closed bars (a filled gap,
  older history), rebuilds the loaded range from the trades, never from a previous aggregation;
* `load_before(time)` extends the range back in time (store minutes) on demand;
* history the engine lacks is asked for (`Engine.load_history`, shared by every session): the
  last `history_hours` when a contract opens, and more when `load_before` reaches before it;
* until those trades are there, the bars of the loaded range the engine holds no whole bar of
  trades for are drawn from the contract's klines (one request, `Engine.candles`): candle,
  volume, delta, no levels. A bar is built from trades once the engine holds all of them.

Every change bumps `version` and names itself in `change`, so subscribers (a HoloViews stream,
`param.watch`) redraw only when something changed. A parameter set while a rebuild runs is
applied by a rebuild right after it: no choice is lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import param

from pipelines.analytics.footprint import (
    AUTO_BIN_BARS,
    BAR_COLUMNS,
    LEVEL_COLUMNS,
    TIMEFRAMES_MS,
    Footprint,
    FootprintRules,
    auto_bin,
    kline_bars,
)
from pipelines.analytics.footprint_studies import naked_pocs, unfinished_auctions, volume_profile
from pipelines.binance.contracts import ContractSpec
from pipelines.engine.history_loads import HistoryLoad
from pipelines.engine.kline_candles import CandleLoad
from pipelines.engine.service import Engine
from pipelines.records.timeunits import HOUR_MS

# A bar closes when the contract's trades reach the next bar, or, for a quiet contract, when the
# clock is this far past its end: a trade stamped before the end may still be on its way.
CLOSE_AFTER_MS = 2_000
# Trades stamped this close before the live bar that arrive after their bar closed (a clock
# ahead of the exchange's, a longer delay) are looked for, and rebuild the range.
LATE_WINDOW_MS = 60_000


def _concat(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    full = [f for f in frames if len(f)]
    if not full:  # empty, with the columns, so every reader can select them
        return frames[0] if frames else pd.DataFrame({c: [] for c in columns})
    return full[0] if len(full) == 1 else pd.concat(full, ignore_index=True)


@dataclass(frozen=True, slots=True)
class Studies:
    """What is drawn over the bars (pipelines/analytics/footprint_studies.py has definitions)."""

    naked_pocs: pd.DataFrame
    auctions: pd.DataFrame
    profile: pd.DataFrame


def _joined(parts: list[Footprint]) -> Footprint:
    """Consecutive footprints of one contract and rules as one (bars never overlap)."""
    first = parts[0]
    return Footprint(
        _concat([p.levels for p in parts], LEVEL_COLUMNS),
        _concat([p.bars for p in parts], BAR_COLUMNS),
        first.spec,
        first.price_bin_ticks,
        first.timeframe,
    )


class FootprintSource(param.Parameterized):
    """One contract's footprint over a loaded range of bars, live."""

    engine = param.ClassSelector(class_=Engine, doc="The engine whose trades are read.")
    symbol = param.String(default="BTCUSDT", doc="Contract.")
    timeframe = param.Selector(default="1m", objects=list(TIMEFRAMES_MS), doc="Bar length.")
    price_bin = param.Integer(default=0, bounds=(0, None), doc="Level in ticks; 0 = automatic.")
    imbalance_ratio = param.Number(default=3.0, bounds=(1.0, 20.0), doc="Diagonal ratio.")
    history_bars = param.Integer(default=120, bounds=(1, None), doc="Bars loaded at first.")
    clock = param.Callable(
        default=None,
        doc="Now in epoch ms, which closes a quiet contract's bars (default: the wall clock).",
    )
    history_hours = param.Number(
        default=None,
        bounds=(0, None),
        allow_None=True,
        doc="Hours loaded from REST when a contract opens and the store lacks them "
        "(None: the engine's setting, 0: none).",
    )

    version = param.Integer(default=0, doc="Bumped on every change of what `frames` returns.")
    change = param.String(default="", doc="What the last change was: rebuild, closed, live, older.")
    bin_ticks = param.Integer(default=1, doc="The bin in effect (the automatic one when 0).")

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self._dirty = True
        self._rebuilding = False
        self.rules: FootprintRules | None = None
        self.start_ms = 0  # first bar loaded
        self.live_start = 0  # open of the live bar
        self._closed: list[Footprint] = []  # consecutive ranges, oldest first
        self._live: Footprint | None = None
        self._live_trades = -1
        self._backfills_seen = -1
        self._held_from = 0  # oldest buffered trade when the range was built
        self._closed_up_to_id = -1  # newest trade before the live bar, when that bar opened
        self._naked: tuple[int, pd.DataFrame] = (-1, pd.DataFrame())
        self._frames: tuple[pd.DataFrame, pd.DataFrame] | None = None  # until parts change
        # (rule read at, detector sequence read up to, this contract's orders)
        self._orders: tuple[tuple, int, pd.DataFrame | None] = ((), 0, None)
        self._load: HistoryLoad | None = None  # the history load this source asked for last
        self._load_seen = True
        self._history_symbol = ""
        self._candles: CandleLoad | None = None  # klines of the range, for bars without trades
        self._candles_seen = True

    @param.depends("symbol", "timeframe", "price_bin", "imbalance_ratio", watch=True)
    def _rules_changed(self) -> None:
        self._dirty = True
        if not self._rebuilding:
            self.refresh()

    # ------------------------------------------------------------------ reading

    @property
    def known(self) -> bool:
        return self.engine.registry.index(self.symbol) is not None

    @property
    def spec(self) -> ContractSpec:
        return self.engine.registry.spec(self.symbol)

    @property
    def tf_ms(self) -> int:
        return TIMEFRAMES_MS[self.timeframe]

    @property
    def level_size(self) -> float:
        """The height of one level in price units."""
        return float(self.spec.ticks_to_price(self.bin_ticks))

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(levels, bars) of the loaded range, live bar included; `cvd` starts at its first bar."""
        if self._frames is None:
            if len(self._closed) > 1:  # keep one closed part: later reads concatenate less
                self._closed = [_joined(self._closed)]
            parts = [*self._closed, *([self._live] if self._live is not None else [])]
            levels = _concat([p.levels for p in parts], LEVEL_COLUMNS)
            bars = _concat([p.bars for p in parts], BAR_COLUMNS)
            candles = self._kline_bars()
            if len(candles):  # a bar from klines replaces the engine's partial one
                whole_from = candles["bar_time"].iloc[-1] + self.tf_ms
                bars = _concat([candles, bars[bars["bar_time"].to_numpy() >= whole_from]], ())
                levels = levels[levels["bar_time"].to_numpy() >= whole_from]
            if len(bars):
                bars = bars.assign(cvd=np.cumsum(bars["delta"].to_numpy()))
            self._frames = (levels, bars)
        return self._frames

    def studies(self, near_levels: pd.DataFrame, visible_levels: pd.DataFrame) -> Studies:
        """Naked POCs of every loaded bar (a later bar anywhere may revisit one), unfinished
        auctions of the bars near the view, and the visible range's volume profile."""
        if self._naked[0] != self.version:
            _, bars = self.frames()
            bars = bars[bars["poc"].notna().to_numpy()]  # a bar from a kline has no levels
            self._naked = (self.version, naked_pocs(bars, self.level_size))
        return Studies(
            naked_pocs=self._naked[1],
            auctions=unfinished_auctions(near_levels),
            profile=volume_profile(visible_levels),
        )

    def big_orders(self, start_ms: float, end_ms: float) -> pd.DataFrame:
        """The contract's big orders (the screener's rule) that started in the range."""
        detector = self.engine.analytics.orders
        rule = (detector.threshold, detector.min_notional, self.symbol)
        seen_rule, seen_seq, orders = self._orders
        if rule != seen_rule:  # a new rule or contract: read the detector's history again
            seen_seq, orders = 0, None
        if orders is None or detector.last_seq != seen_seq:
            # Only what the detector added since the last read (a whole read is milliseconds,
            # and new orders of some contract arrive with nearly every batch).
            new = detector.big_since(seen_seq)
            new = new[(new["symbol"] == self.symbol).to_numpy()]
            if orders is not None:  # what the detector's ring still holds, then the new ones
                kept = orders[(orders["seq"] >= detector.history.first_seq).to_numpy()]
                new = pd.concat([kept, new], ignore_index=True) if len(new) else kept
            orders = new
            self._orders = (rule, detector.last_seq, orders)
        inside = (orders["time"] >= start_ms) & (orders["time"] < end_ms)
        return orders[inside.to_numpy()]

    def progress(self) -> tuple[float, str]:
        """How much of the loaded range the engine and its store hold, and any gap being filled."""
        loading = self._loading()
        if loading is not None:
            return loading
        engine = self.engine
        sym = engine.registry.index(self.symbol)
        gap = engine.sequencer.gaps.get(sym) if sym is not None else None
        if gap is not None:
            last = int(engine.sequencer.last_id[sym])
            total = gap.to_id - gap.from_id + 1
            done = max(0, min(total, last - gap.from_id + 1))
            return (done / total if total else 1.0), f"backfilling {total - done:,} trades"
        first = engine.history_start(self.symbol)
        end = self.live_start + self.tf_ms
        if first is None:
            return 0.0, "waiting for trades"
        held = end - max(first, self.start_ms)
        fraction = min(1.0, held / max(1, end - self.start_ms))
        since = time.strftime("%H:%M", time.gmtime(first / 1000))
        candles = " · candles before it from klines" if len(self._kline_bars()) else ""
        return fraction, f"history {fraction:.0%} · since {since}{candles}"

    # ------------------------------------------------------------------ keeping current

    def refresh(self) -> str:
        """Bring the footprint up to date; returns what changed ("" for nothing)."""
        if not self.known:
            return ""
        change = ""
        self._want_recent_history()
        self._want_candles(self._first_bar())
        if self._history_landed() and self._load is not None:
            self.start_ms = min(self.start_ms, self._load.progress.start_ms)
            self._dirty = True
        self._rebuilding = True
        try:
            while self._dirty:  # a parameter set during the rebuild sets _dirty again
                self._dirty = False
                self._rebuild(self._first_bar() if change == "" else self.start_ms)
                change = "rebuild"
            if not change and (
                self._late_into_closed_bar() or self._older_trades_arrived() or self._backfilled()
            ):
                self._rebuild(self.start_ms)
                change = "rebuild"
            if not change:
                change = self._advance()
            if self._candles_landed():
                change = "rebuild" if change in ("", "live", "closed") else change
            # An automatic bin follows the market: a range that widened gets a coarser one.
            auto = change == "closed" and self.price_bin == 0
            if auto and self._auto_bin(self.live_start) != self.bin_ticks:
                self._rebuild(self.start_ms)
                change = "rebuild"
        finally:
            self._rebuilding = False
        if change:
            self._announce(change)
        return change

    def load_before(self, time_ms: float) -> bool:
        """Extend the loaded range back to the bar holding `time_ms` (within the history)."""
        if self.rules is None or not self.known:
            return False
        first = self.engine.history_start(self.symbol)
        if first is None:
            return False
        tf = self.tf_ms
        if time_ms < first:
            self._want_history(int(time_ms) // tf * tf)
            self._want_candles(int(time_ms) // tf * tf)
        start = max(int(time_ms) // tf * tf, first // tf * tf)
        if start >= self.start_ms:
            return False
        older = self.engine.footprint(self.symbol, start, self.start_ms, self.rules)
        self._closed.insert(0, older)
        self.start_ms = start
        self._announce("older")
        return True

    # ------------------------------------------------------------------ history on demand

    def _want_recent_history(self) -> None:
        """Once per contract opened: the last `history_hours`, if the engine lacks them."""
        if self._history_symbol == self.symbol:
            return
        self._history_symbol = self.symbol
        hours = (
            self.engine.config.history_hours if self.history_hours is None else self.history_hours
        )
        if hours > 0:
            self._want_history(self._newest() - int(hours * HOUR_MS))

    def _want_history(self, start_ms: int) -> None:
        """Ask the engine for the history from `start_ms` up to what it holds."""
        first = self.engine.history_start(self.symbol)
        if first is not None and first <= start_ms:
            return
        try:
            self._load = self.engine.load_history(self.symbol, start_ms, first)
        except RuntimeError:  # no running event loop (a bare notebook): nothing is loaded
            return
        self._load_seen = False

    def _history_landed(self) -> bool:
        """True once, when the load asked for has finished: the range is rebuilt with it."""
        load = self._load
        if load is None or self._load_seen or not load.done:
            return False
        self._load_seen = True
        return True

    def _want_candles(self, start_ms: int) -> None:
        """The klines of this contract and timeframe from `start_ms`, if not asked for yet."""
        load = self._candles
        same = load is not None and (load.symbol, load.interval) == (self.symbol, self.timeframe)
        if same and (load.start_ms <= start_ms or not load.done):
            return
        try:
            self._candles = self.engine.candles.request(self.symbol, self.timeframe, start_ms)
        except RuntimeError:  # no running event loop (a bare notebook): trades only
            return
        self._candles_seen = False

    def _candles_landed(self) -> bool:
        """True once, when the klines asked for have arrived."""
        load = self._candles
        if load is None or self._candles_seen or not load.done:
            return False
        self._candles_seen = True
        return True

    def _kline_bars(self) -> pd.DataFrame:
        """Bars of the loaded range from klines: those before the first bar whose trades the
        engine holds whole (all of them when it holds none of this contract)."""
        load = self._candles
        if (
            load is None
            or not load.done
            or (load.symbol, load.interval)
            != (
                self.symbol,
                self.timeframe,
            )
        ):
            return _concat([], BAR_COLUMNS)
        tf = self.tf_ms
        first = self.engine.history_start(self.symbol)
        whole_from = -(-first // tf) * tf if first is not None else self.live_start + tf
        opens = load.klines["open_time"].to_numpy()
        keep = (opens >= self.start_ms) & (opens < whole_from) & (opens + tf <= load.end_ms)
        return kline_bars(load.klines[keep], self.spec, tf)

    def _loading(self) -> tuple[float, str] | None:
        load = self._load
        if load is None or load.done or load.progress.symbol != self.symbol:
            return None
        p = load.progress
        left = f" · {p.eta_s:,.0f} s left" if p.eta_s is not None else ""
        return p.share, f"loading history · {p.trades:,} trades{left}"

    def _announce(self, change: str) -> None:
        self._frames = None
        self.param.update(change=change, version=self.version + 1)

    def _first_bar(self) -> int:
        tf = self.tf_ms
        if self.start_ms and self.rules is not None:
            return self.start_ms // tf * tf  # a rule change keeps the range that was in view
        return self._newest() // tf * tf - self.history_bars * tf

    def _now(self) -> int:
        return int(self.clock()) if self.clock is not None else int(time.time() * 1000)

    def _newest_trade(self) -> int:
        sym = self.engine.registry.index(self.symbol)
        coverage = self.engine.buffer.coverage(sym) if sym is not None else None
        return coverage[1] if coverage else 0

    def _newest(self) -> int:
        return max(self._newest_trade(), self._now())

    def _live_bar_start(self) -> int:
        """Open of the bar still taking trades (CLOSE_AFTER_MS)."""
        newest = max(self._newest_trade(), self._now() - CLOSE_AFTER_MS)
        return newest // self.tf_ms * self.tf_ms

    def _rebuild(self, start: int) -> None:
        spec = self.spec
        tf = self.tf_ms
        now_bar = self._live_bar_start()
        start = min(start // tf * tf, now_bar)
        bin_ticks = self.price_bin or self._auto_bin(now_bar)
        self.rules = FootprintRules.make(
            spec, price_bin_ticks=bin_ticks, timeframe=self.timeframe,
            imbalance_ratio=self.imbalance_ratio,
        )  # fmt: skip
        self.bin_ticks = bin_ticks
        self._closed = [self.engine.footprint(self.symbol, start, now_bar, self.rules)]
        self.start_ms, self.live_start = start, now_bar
        self._closed_up_to_id = self._newest_id_before_live_bar()
        self._live, self._live_trades = None, -1
        self._backfills_seen = self._backfill_count()
        sym = self.engine.registry.index(self.symbol)
        coverage = self.engine.buffer.coverage(sym)
        self._held_from = coverage[0] if coverage else now_bar
        self._advance()

    def _auto_bin(self, now_bar: int) -> int:
        tf = self.tf_ms
        trades = self.engine.trades(self.symbol, now_bar - AUTO_BIN_BARS * tf, None)
        if len(trades) == 0:
            return 1
        return auto_bin(int(trades["price"].max() - trades["price"].min()))

    def _advance(self) -> str:
        """Close finished bars and rebuild the live bar from its trades."""
        tf = self.tf_ms
        now_bar = self._live_bar_start()
        change = ""
        if now_bar > self.live_start:
            closed = self.engine.footprint(self.symbol, self.live_start, now_bar, self.rules)
            self._closed.append(closed)
            self.live_start = now_bar
            self._closed_up_to_id = self._newest_id_before_live_bar()
            self._live, self._live_trades = None, -1
            change = "closed"
        trades = self.engine.trades(self.symbol, self.live_start, None)
        if len(trades) != self._live_trades:
            self._live_trades = len(trades)
            self._live = self.engine.footprint(
                self.symbol, self.live_start, now_bar + tf, self.rules
            )
            change = change or "live"
        return change

    def _newest_id_before_live_bar(self) -> int:
        # By id, not by count: the buffer dropping its oldest trades changes no newest id.
        start = max(self.start_ms, self.live_start - min(self.tf_ms, LATE_WINDOW_MS))
        trades = self.engine.trades(self.symbol, start, self.live_start)
        return int(trades["agg_id"].max()) if len(trades) else -1

    def _late_into_closed_bar(self) -> bool:
        return self._newest_id_before_live_bar() > self._closed_up_to_id

    def _backfill_count(self) -> int:
        stats = self.engine.sequencer.stats
        return stats.gaps_filled + stats.gaps_abandoned

    def _backfilled(self) -> bool:
        return self._backfill_count() != self._backfills_seen

    def _older_trades_arrived(self) -> bool:
        sym = self.engine.registry.index(self.symbol)
        coverage = self.engine.buffer.coverage(sym)
        return coverage is not None and self.start_ms <= coverage[0] < self._held_from
