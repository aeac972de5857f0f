"""The stand-in's generated past (`--history`): trades and minute bars before the start.

Generating days of trades for hundreds of contracts up front is too slow, so the past is a
function of (seed, contract, block of minutes), computed on demand and cached:

* a per-contract *skeleton* of every minute (cheap, one vector per field): number of aggTrades
  and raw trades, taker-buy count, open/high/low/close, volume and taker-buy volume. Closes walk
  back from the live start price, so the past ends where the present begins; the minute's
  taker share leans with its return, so price and flow agree as in the present;
* the trades of an hour's minutes at once (`past_trades.block_trades`), drawn from a generator
  seeded by (seed, contract, block) and forced onto the skeleton: first and last trade at the
  open and close, the extremes at the high and low, quantities summing to the volume and
  taker-buy volume exactly.

Aggregate and raw ids run from the contract's first id up to the live market's first ids
without a hole (`totals` tells the market how many the past used). Klines and the
rolling 24 h ticker read the skeleton, REST aggTrades and the archive read the trades; both
agree. The quote volumes of REST klines are the minutes' own trades' (`quote_units`); the daily
bars and the rolling ticker, which would need every minute of every contract, estimate them
from the bar's mean price.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipelines.records.timeunits import MINUTE_MS
from pipelines.standin.bars import MinuteBars
from pipelines.standin.history import STORED_DTYPE
from pipelines.standin.past_trades import BLOCK_MINUTES, block_quote_units, block_trades

_SKELETON_CACHE = 64  # contracts
_CACHE_ROWS = 4_000_000  # trades of past blocks kept (~230 MB)
_ACTIVITY_AR, _ACTIVITY_SD = 0.97, 0.25  # minute-to-minute activity (log), bursts and lulls


@dataclass(frozen=True, slots=True)
class ContractPast:
    """What the past needs to know of one contract at the start."""

    start_price: int  # ticks: the live market's first price
    agg_rate: float  # aggTrades per second
    fills_per_trade: float  # raw trades per aggTrade
    qty_per_trade: float  # mean aggTrade quantity, steps
    minute_vol: float  # sd of a minute's log return
    first_agg: int  # id of the past's first aggTrade
    first_raw: int  # and of its first raw trade
    unit: float  # USD per tick and step (tick * step)


@dataclass(slots=True)
class Skeleton:
    """Per-minute fields of one contract's past, minute index 0 = `Past.first_minute`."""

    count: np.ndarray
    fills: np.ndarray
    buys: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    taker_volume: np.ndarray
    first_agg: np.ndarray  # id of each minute's first aggTrade
    first_raw: np.ndarray


class Past:
    """The generated past of every contract over [start - history, start)."""

    def __init__(self, seed: int, start_ms: int, history_ms: int, contracts: list[ContractPast]):
        self.seed = seed
        self.end_ms = int(start_ms)
        self.start_ms = max(self.end_ms - int(history_ms), 0)
        self.first_minute = self.start_ms // MINUTE_MS
        self.last_minute = (self.end_ms - 1) // MINUTE_MS  # may be partial
        self.minutes = max(self.last_minute - self.first_minute + 1, 0) if history_ms > 0 else 0
        self.contracts = contracts
        self._skeletons: OrderedDict[int, Skeleton] = OrderedDict()
        # (contract, block) -> (its trades, each minute's first row), least recently used first.
        self._blocks: OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cached_rows = 0
        # (contract, block) -> each minute's quote of its trades, all and taker buys.
        self._quotes: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        # The archive builds zips in a worker thread while the loop answers REST.
        self._lock = threading.RLock()

    def __bool__(self) -> bool:
        return self.minutes > 0

    def has(self, sym: int) -> bool:
        """Whether a contract has a past (contracts listed at runtime have none)."""
        return self.minutes > 0 and sym < len(self.contracts)

    # -------------------------------------------------------------- skeleton

    def _span(self, minute: np.ndarray) -> np.ndarray:
        """Share of each minute inside the past (the first and last may be partial)."""
        lo = np.maximum(minute * MINUTE_MS, self.start_ms)
        hi = np.minimum((minute + 1) * MINUTE_MS, self.end_ms)
        return np.clip(hi - lo, 0, MINUTE_MS) / MINUTE_MS

    def counts(self, sym: int) -> tuple[np.ndarray, np.ndarray]:
        """aggTrades and raw trades per minute: cheap, for the id chain at start-up."""
        c = self.contracts[sym]
        m = self.minutes
        if m == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        rng = np.random.default_rng([self.seed, 0x9A57, sym])
        shocks = rng.standard_normal(m) * _ACTIVITY_SD
        # AR(1) over minutes, as a convolution with its (truncated) impulse response.
        activity = np.convolve(shocks, _ACTIVITY_AR ** np.arange(200))[:m]
        stationary = _ACTIVITY_SD**2 / (1 - _ACTIVITY_AR**2)
        mean = c.agg_rate * 60.0 * self._span(self.first_minute + np.arange(m))
        count = rng.poisson(mean * np.exp(activity - stationary / 2))
        fills = count + rng.poisson(count * max(c.fills_per_trade - 1.0, 0.0))
        return count.astype(np.int64), fills.astype(np.int64)

    def totals(self) -> tuple[np.ndarray, np.ndarray]:
        """aggTrades and raw trades of each contract's whole past."""
        sums = [tuple(int(x.sum()) for x in self.counts(s)) for s in range(len(self.contracts))]
        return (
            np.array([a for a, _ in sums], dtype=np.int64),
            np.array([r for _, r in sums], dtype=np.int64),
        )

    def skeleton(self, sym: int) -> Skeleton:
        with self._lock:
            cached = self._skeletons.get(sym)
            if cached is not None:
                self._skeletons.move_to_end(sym)
                return cached
            sk = self._build_skeleton(sym)
            self._skeletons[sym] = sk
            if len(self._skeletons) > _SKELETON_CACHE:
                self._skeletons.popitem(last=False)
            return sk

    def _build_skeleton(self, sym: int) -> Skeleton:
        c = self.contracts[sym]
        count, fills = self.counts(sym)
        m = self.minutes
        rng = np.random.default_rng([self.seed, 0x9A58, sym])
        ret = rng.standard_normal(m) * c.minute_vol
        ret[count < 2] = 0.0  # one trade or none: open and close are the same price
        # Walk back from the start price: close[k] = open[k + 1], the last close is it.
        log_close = np.log(c.start_price) - np.concatenate([np.cumsum(ret[::-1])[::-1][1:], [0]])
        close = np.maximum(np.rint(np.exp(log_close)), 1).astype(np.int64)
        open_ = np.concatenate([[close[0]], close[:-1]]) if m else close
        open_ = np.where(count < 2, close, open_)
        close = np.where(count < 2, open_, close)
        wide = count >= 4  # room for an extreme inside the minute
        ext = np.abs(rng.standard_normal((2, m))) * c.minute_vol * 0.5 * open_
        high = np.maximum(open_, close) + np.where(wide, np.rint(ext[0]), 0).astype(np.int64)
        low = np.minimum(open_, close) - np.where(wide, np.rint(ext[1]), 0).astype(np.int64)
        low = np.maximum(low, 1)
        # Taker share leans with the minute's return, as the live flow moves the price.
        share = 0.5 + 0.35 * np.tanh(ret / max(c.minute_vol, 1e-12))
        buys = rng.binomial(count, np.clip(share, 0.02, 0.98))
        size = np.exp(rng.standard_normal(m) * 0.3 - 0.045)
        volume = np.maximum(np.rint(count * c.qty_per_trade * size), count).astype(np.int64)
        taker = np.rint(volume * np.where(count > 0, buys / np.maximum(count, 1), 0))
        taker = np.clip(taker, buys, volume - (count - buys)).astype(np.int64)
        return Skeleton(
            count=count,
            fills=fills,
            buys=buys.astype(np.int64),
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=volume,
            taker_volume=taker,
            first_agg=c.first_agg + np.cumsum(count) - count,
            first_raw=c.first_raw + np.cumsum(fills) - fills,
        )

    # -------------------------------------------------------------- trades

    def minute_trades(self, sym: int, minute: int) -> np.ndarray:
        """The aggTrades of one past minute (`STORED_DTYPE`), forced onto its skeleton."""
        k = minute - self.first_minute
        rows, starts = self._block(sym, k // BLOCK_MINUTES)
        j = k % BLOCK_MINUTES
        end = starts[j + 1] if j + 1 < len(starts) else len(rows)
        return rows[starts[j] : end]

    def _block_span(self, sym: int, block: int) -> tuple[int, int, np.random.Generator]:
        """A block's skeleton minutes [k0, k1) and its generator: its trades are a function of
        the block alone, whichever form asks for them."""
        k0 = block * BLOCK_MINUTES
        k1 = min(k0 + BLOCK_MINUTES, self.minutes)
        return k0, k1, np.random.default_rng([self.seed, 0x9A5A, sym, block])

    def _block(self, sym: int, block: int) -> tuple[np.ndarray, np.ndarray]:
        """The trades of one block of minutes and each minute's first row (cached)."""
        key = (sym, block)
        with self._lock:
            cached = self._blocks.get(key)
            if cached is not None:
                self._blocks.move_to_end(key)
                return cached
            k0, k1, rng = self._block_span(sym, block)
            minute = self.first_minute + np.arange(k0, k1)
            times = (
                np.maximum(minute * MINUTE_MS, self.start_ms),
                np.minimum((minute + 1) * MINUTE_MS, self.end_ms),
            )
            held = self._blocks[key] = block_trades(self.skeleton(sym), k0, k1, times, rng)
            self._cached_rows += len(held[0])
            while self._cached_rows > _CACHE_ROWS and len(self._blocks) > 1:
                _, (rows, _) = self._blocks.popitem(last=False)
                self._cached_rows -= len(rows)
            return held

    def quote_units(self, sym: int, minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sums of price x quantity (ticks x steps) of past minutes' trades, all and taker buys."""
        total = np.zeros(len(minutes), np.int64)
        taker = np.zeros(len(minutes), np.int64)
        k = np.asarray(minutes, np.int64) - self.first_minute
        with self._lock:
            for block in np.unique(k // BLOCK_MINUTES).tolist():
                sums = self._quotes.get((sym, block))
                if sums is None:
                    k0, k1, rng = self._block_span(sym, block)
                    sums = block_quote_units(self.skeleton(sym), k0, k1, rng)
                    self._quotes[(sym, block)] = sums
                here = k // BLOCK_MINUTES == block
                total[here] = sums[0][k[here] % BLOCK_MINUTES]
                taker[here] = sums[1][k[here] % BLOCK_MINUTES]
        return total, taker

    def prepare_klines(self, syms: Sequence[int], hours: float, stop: threading.Event) -> None:
        """Compute the quote sums of the newest `hours` of these contracts' past, in this
        order, before anyone asks: an exchange serves klines from bars it already holds, and a
        client warming every contract at once should not wait for trades to be generated.
        Stops early when `stop` is set."""
        last = (self.minutes - 1) // BLOCK_MINUTES
        first = max(0, (self.minutes - int(hours * 60)) // BLOCK_MINUTES)
        for sym in syms:
            if not self.has(sym):
                continue
            for block in range(last, first - 1, -1):
                if stop.is_set():
                    return
                with self._lock:
                    if (sym, block) in self._quotes:
                        continue
                    sk = self.skeleton(sym)
                k0, k1, rng = self._block_span(sym, block)
                sums = block_quote_units(sk, k0, k1, rng)  # outside the lock: requests go on
                with self._lock:
                    self._quotes.setdefault((sym, block), sums)

    # -------------------------------------------------------------- queries

    def _minute_of_id(self, sk: Skeleton, agg_id: int) -> int:
        return int(np.searchsorted(sk.first_agg, agg_id, side="right")) - 1

    def by_id(self, sym: int, from_id: int, limit: int) -> np.ndarray:
        """Up to `limit` past trades from `from_id` on (ids before the past start at it)."""
        sk = self.skeleton(sym)
        k = max(self._minute_of_id(sk, from_id), 0)
        blocks, got = [], 0
        while k < self.minutes and got < limit:
            rows = self.minute_trades(sym, self.first_minute + k)
            rows = rows[rows["agg_id"] >= from_id]
            blocks.append(rows[: limit - got])
            got += len(blocks[-1])
            k += 1
        return _concat(blocks)

    def by_time(self, sym: int, start: int | None, end: int, limit: int) -> np.ndarray:
        """Past trades with start <= T <= end: the first `limit` (or the last, without start)."""
        lo_min = max(
            (start if start is not None else self.start_ms) // MINUTE_MS, self.first_minute
        )
        hi_min = min(end // MINUTE_MS, self.last_minute)
        blocks, got = [], 0
        minutes = range(lo_min, hi_min + 1)
        for minute in minutes if start is not None else reversed(minutes):
            rows = self.minute_trades(sym, minute)
            keep = rows["time"] <= end
            if start is not None:
                keep &= rows["time"] >= start
            rows = rows[keep]
            blocks.append(rows)
            got += len(rows)
            if got >= limit:
                break
        if start is None:
            return _concat(blocks[::-1])[-limit:] if blocks else _concat([])
        return _concat(blocks)[:limit]


def _concat(blocks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=STORED_DTYPE)


def span(
    past: Past, sym: int, first_minute: int, last_minute: int, *, exact_quote: bool = False
) -> dict[str, np.ndarray]:
    """Minute bars [first, last] of one contract's past, in `MinuteBars.span`'s layout; with
    `exact_quote` the quote volumes are the trades' own, else estimated from the mean price."""
    minutes = np.arange(first_minute, last_minute + 1)
    k = minutes - past.first_minute
    inside = (k >= 0) & (k < past.minutes) & (sym < len(past.contracts))
    out = {"minute": minutes, "valid": np.zeros(len(minutes), bool)}
    fields = ("open", "high", "low", "close", "volume", "taker_volume")
    for name in (*fields, "trades", "first_raw", "last_raw"):
        out[name] = np.zeros(len(minutes), np.int64)
    out["quote"] = np.zeros(len(minutes))
    out["taker_quote"] = np.zeros(len(minutes))
    if not inside.any():
        return out
    sk = past.skeleton(sym)
    ki = k[inside]
    for name in fields:
        out[name][inside] = getattr(sk, name)[ki]
    out["trades"][inside] = sk.fills[ki]
    out["first_raw"][inside] = sk.first_raw[ki]
    out["last_raw"][inside] = sk.first_raw[ki] + sk.fills[ki] - 1
    out["valid"][inside] = sk.count[ki] > 0
    unit = past.contracts[sym].unit
    if exact_quote:
        total, taker = past.quote_units(sym, minutes[inside])
        out["quote"][inside] = total * unit
        out["taker_quote"][inside] = taker * unit
        return out
    # Estimated from the bar's mean price (the trades' own sum differs by a little).
    mean_price = (out["open"] + out["high"] + out["low"] + out["close"]) / 4
    out["quote"] = out["volume"] * mean_price * unit
    out["taker_quote"] = out["taker_volume"] * mean_price * unit
    return out


class MinuteSpans:
    """Minute bars of the past and then of the live ring, as one `span` source."""

    def __init__(self, past: Past, live: MinuteBars) -> None:
        self.past = past
        self.live = live

    def span(
        self, sym: int, first_minute: int, last_minute: int, *, exact_quote: bool = False
    ) -> dict[str, np.ndarray]:
        out = span(self.past, sym, first_minute, last_minute, exact_quote=exact_quote)
        live = self.live.span(sym, first_minute, last_minute)
        at = live["minute"] - first_minute
        both = out["valid"][at] & live["valid"]  # the start minute: past part, then live part
        for name in out:
            if name in ("minute", "valid"):
                continue
            mine = out[name][at]
            theirs = live[name]
            if name in ("open", "first_raw"):
                merged = np.where(both, mine, theirs)
            elif name == "high":
                merged = np.where(both, np.maximum(mine, theirs), theirs)
            elif name == "low":
                merged = np.where(both, np.minimum(mine, theirs), theirs)
            elif name in ("close", "last_raw"):
                merged = theirs
            else:
                merged = np.where(both, mine + theirs, theirs)
            out[name][at] = np.where(live["valid"], merged, mine)
        out["valid"][at] |= live["valid"]
        return out


def tail_suffixes(past: Past, n_symbols: int, minutes: int) -> dict[str, np.ndarray]:
    """For the last `minutes` minutes of the past, per contract and first minute j: the
    aggregates of minutes j.. up to the start (the rolling 24 h ticker's past part)."""
    last = past.last_minute
    first = last - minutes + 1
    cols = {
        k: np.zeros((n_symbols, minutes), dtype)
        for k, dtype in (
            ("open", np.int64),
            ("high", np.int64),
            ("low", np.int64),
            ("volume", np.int64),
            ("trades", np.int64),
            ("taker_volume", np.int64),
            ("quote", np.float64),
            ("taker_quote", np.float64),
            ("any", bool),
        )
    }
    big = np.iinfo(np.int64).max
    for sym in range(n_symbols):
        sp = span(past, sym, first, last)
        valid = sp["valid"]
        rev = slice(None, None, -1)
        for name in ("volume", "trades", "taker_volume", "quote", "taker_quote"):
            cols[name][sym] = np.cumsum(np.where(valid, sp[name], 0)[rev])[rev]
        cols["high"][sym] = np.maximum.accumulate(np.where(valid, sp["high"], -big)[rev])[rev]
        cols["low"][sym] = np.minimum.accumulate(np.where(valid, sp["low"], big)[rev])[rev]
        # The open of the first traded minute at or after j.
        idx = np.where(valid, np.arange(minutes), minutes)
        nxt = np.minimum.accumulate(idx[rev])[rev]
        cols["any"][sym] = nxt < minutes
        cols["open"][sym] = np.where(nxt < minutes, sp["open"][np.minimum(nxt, minutes - 1)], 0)
    cols["first_minute"] = np.array(first)
    return cols
