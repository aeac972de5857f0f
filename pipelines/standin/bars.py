"""Kline and rolling-24 h statistics of the stand-in: live minute bars plus a synthetic past.

Minute bars are accumulated from the generated trades in a 24 h ring (one column per minute and
symbol), which serves the `kline_1m` stream, REST klines up to 12 h, completed UTC days and the
rolling 24 h ticker. Before the stand-in started there are no trades, so daily bars for the last
60 days (and the part of the start day before the start) are synthetic: a random walk ending at the
start price, with quote volumes drawn around the rate the generator will actually produce, so an
average daily volume computed from `klines?interval=1d` matches the live flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipelines.records.timeunits import DAY_MS, MINUTE_MS

if TYPE_CHECKING:  # past.py builds on MinuteBars
    from pipelines.standin.past import MinuteSpans

RING_MINUTES = 1440
SYNTHETIC_DAYS = 60
INTRADAY_INTERVALS = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "8h": 480,
    "12h": 720,
}
DAILY_INTERVALS = ("1d", "3d", "1w", "1M")


@dataclass(slots=True)
class Bars:
    """Klines of one contract: prices in ticks, volumes in steps, quote volumes in USD."""

    open_time: np.ndarray
    close_time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote: np.ndarray
    trades: np.ndarray
    taker_volume: np.ndarray
    taker_quote: np.ndarray

    def __len__(self) -> int:
        return len(self.open_time)

    def select(self, index: np.ndarray | slice) -> Bars:
        return Bars(*(getattr(self, f)[index] for f in Bars.__slots__))


_INT_FIELDS = (
    "minute",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "trades",
    "taker_volume",
    "first_raw",
    "last_raw",
)
_FLOAT_FIELDS = ("quote", "taker_quote")


class MinuteBars:
    """24 h ring of per-minute aggregates for every contract."""

    def __init__(self, n_symbols: int) -> None:
        self._cols: dict[str, np.ndarray] = {}
        for name in _INT_FIELDS:
            self._cols[name] = np.full(
                (n_symbols, RING_MINUTES), -1 if name == "minute" else 0, dtype=np.int64
            )
        for name in _FLOAT_FIELDS:
            self._cols[name] = np.zeros((n_symbols, RING_MINUTES))

    def add_symbol(self) -> None:
        for name, col in self._cols.items():
            row = np.full((1, RING_MINUTES), -1 if name == "minute" else 0, dtype=col.dtype)
            self._cols[name] = np.vstack([col, row])

    def update(self, trades: np.ndarray, notional: np.ndarray) -> None:
        """Add a step's trades (`TRADE_DTYPE`, sorted by symbol) and their USD notionals."""
        if len(trades) == 0:
            return
        minutes = trades["time"] // MINUTE_MS
        if minutes[0] != minutes[-1] or np.any(minutes != minutes[0]):
            for m in np.unique(minutes):
                sel = minutes == m
                self.update(trades[sel], notional[sel])
            return
        minute = int(minutes[0])
        slot = minute % RING_MINUTES
        sym = trades["sym"]
        syms, starts = np.unique(sym, return_index=True)
        ends = np.append(starts[1:], len(trades)) - 1
        price, qty = trades["price"], trades["qty"]
        buy = ~trades["buyer_maker"]
        c = self._cols
        fresh = c["minute"][syms, slot] != minute
        fs = syms[fresh]
        c["minute"][fs, slot] = minute
        c["open"][fs, slot] = price[starts[fresh]]
        c["high"][fs, slot] = np.iinfo(np.int64).min
        c["low"][fs, slot] = np.iinfo(np.int64).max
        c["first_raw"][fs, slot] = trades["first_id"][starts[fresh]]
        for name in ("volume", "trades", "taker_volume", "quote", "taker_quote"):
            c[name][fs, slot] = 0
        c["high"][syms, slot] = np.maximum(
            c["high"][syms, slot], np.maximum.reduceat(price, starts)
        )
        c["low"][syms, slot] = np.minimum(c["low"][syms, slot], np.minimum.reduceat(price, starts))
        c["close"][syms, slot] = price[ends]
        c["last_raw"][syms, slot] = trades["last_id"][ends]
        fills = trades["last_id"] - trades["first_id"] + 1
        c["volume"][syms, slot] += np.add.reduceat(qty, starts)
        c["trades"][syms, slot] += np.add.reduceat(fills, starts)
        c["taker_volume"][syms, slot] += np.add.reduceat(qty * buy, starts)
        c["quote"][syms, slot] += np.add.reduceat(notional, starts)
        c["taker_quote"][syms, slot] += np.add.reduceat(notional * buy, starts)

    def current(self, syms: np.ndarray, minute: int) -> dict[str, np.ndarray]:
        """This minute's bar fields for `syms` (`minute` == -1 where a symbol has no trade yet)."""
        slot = minute % RING_MINUTES
        out = {name: col[syms, slot] for name, col in self._cols.items()}
        out["valid"] = out["minute"] == minute
        return out

    def span(self, sym: int, first_minute: int, last_minute: int) -> dict[str, np.ndarray]:
        """Minutes [first, last] of one contract (at most the last 24 h), `valid` where traded."""
        minutes = np.arange(max(first_minute, last_minute - RING_MINUTES + 1), last_minute + 1)
        slots = minutes % RING_MINUTES
        out = {name: col[sym, slots] for name, col in self._cols.items()}
        out["valid"] = out["minute"] == minutes
        out["minute"] = minutes
        return out

    def window(self, now_minute: int) -> dict[str, np.ndarray]:
        """Per-symbol aggregates over the minutes (now - 24 h, now]."""
        c = self._cols
        valid = (c["minute"] > now_minute - RING_MINUTES) & (c["minute"] <= now_minute)
        out = {
            name: np.where(valid, c[name], 0).sum(axis=1)
            for name in ("volume", "trades", "quote", "taker_volume", "taker_quote")
        }
        age = np.where(valid, c["minute"], np.iinfo(np.int64).max)
        oldest = age.argmin(axis=1)
        newest = np.where(valid, c["minute"], -1).argmax(axis=1)
        rows = np.arange(valid.shape[0])
        out["any"] = valid.any(axis=1)
        out["open"] = c["open"][rows, oldest]
        out["first_raw"] = c["first_raw"][rows, oldest]
        out["close"] = c["close"][rows, newest]
        out["last_raw"] = c["last_raw"][rows, newest]
        out["high"] = np.where(valid, c["high"], np.iinfo(np.int64).min).max(axis=1)
        out["low"] = np.where(valid, c["low"], np.iinfo(np.int64).max).min(axis=1)
        return out


class DailyBars:
    """Synthetic daily history before the start, then live UTC days closed from minute bars."""

    def __init__(
        self,
        start_ms: int,
        price_ticks: np.ndarray,
        daily_vol: np.ndarray,
        daily_quote: np.ndarray,
        daily_trades: np.ndarray,
        ticks_per_unit: np.ndarray,
        steps_per_unit: np.ndarray,
        rng: np.random.Generator,
    ) -> None:
        self.start_ms = start_ms
        self.start_day = start_ms // DAY_MS
        self._first_day = self.start_day - SYNTHETIC_DAYS
        # Columns: SYNTHETIC_DAYS full days, then the start day's part before the start.
        self._synth = self._synthesize(
            price_ticks, daily_vol, daily_quote, daily_trades, ticks_per_unit, steps_per_unit, rng
        )
        self._closed: dict[int, list[dict]] = {}  # finished live days, one row per symbol

    def _synthesize(
        self, price_ticks, daily_vol, daily_quote, daily_trades, ticks_per_unit, steps_per_unit, rng
    ) -> dict[str, np.ndarray]:
        n = len(price_ticks)
        days = SYNTHETIC_DAYS + 1
        frac = np.ones(days)
        frac[-1] = (self.start_ms - self.start_day * DAY_MS) / DAY_MS
        returns = rng.standard_normal((n, days)) * daily_vol[:, None] * np.sqrt(frac)
        # Walk backwards from the start price: close[d] = open[d + 1], the last close is it.
        later = np.cumsum(returns[:, ::-1], axis=1)[:, ::-1]
        log_close = np.log(price_ticks.astype(np.float64))[:, None] - np.concatenate(
            [later[:, 1:], np.zeros((n, 1))], axis=1
        )
        log_open = log_close - returns
        wick = np.abs(rng.standard_normal((n, days, 2))) * daily_vol[:, None, None] * 0.4
        wick *= np.sqrt(frac)[None, :, None]
        o, c = np.exp(log_open), np.exp(log_close)
        h = np.maximum(o, c) * np.exp(wick[..., 0])
        lo = np.minimum(o, c) * np.exp(-wick[..., 1])
        size = np.exp(rng.standard_normal((n, days)) * 0.35 - 0.35**2 / 2) * frac
        quote = daily_quote[:, None] * size
        vwap_units = (o + h + lo + c) / 4 / ticks_per_unit[:, None]
        volume = np.maximum(np.rint(quote / vwap_units * steps_per_unit[:, None]), 0)
        taker = rng.uniform(0.45, 0.55, (n, days))
        ticks = {
            k: np.maximum(np.rint(v), 1).astype(np.int64)
            for k, v in (("open", o), ("high", h), ("low", lo), ("close", c))
        }
        ticks["high"] = np.maximum.reduce([ticks["high"], ticks["open"], ticks["close"]])
        ticks["low"] = np.minimum.reduce([ticks["low"], ticks["open"], ticks["close"]])
        return {
            **ticks,
            "volume": volume.astype(np.int64),
            "quote": quote,
            "trades": np.rint(daily_trades[:, None] * size).astype(np.int64),
            "taker_volume": np.rint(volume * taker).astype(np.int64),
            "taker_quote": quote * taker,
        }

    def add_symbol(self, price_ticks: int) -> None:
        """A newly listed contract has no past: flat zero-volume days at its listing price."""
        for name, col in self._synth.items():
            value = price_ticks if name in _PRICE_FIELDS else 0
            self._synth[name] = np.vstack([col, np.full((1, col.shape[1]), value, col.dtype)])
        for rows in self._closed.values():
            rows.append(_merge({"valid": np.zeros(0, dtype=bool)}))

    def close_day(self, day: int, minutes: MinuteBars) -> None:
        """Freeze a finished live UTC day before its minutes leave the 24 h ring."""
        if day < self.start_day or day in self._closed:
            return
        n = self._synth["open"].shape[0]
        self._closed[day] = [self._day_from_minutes(s, day, minutes) for s in range(n)]

    def _day_from_minutes(self, sym: int, day: int, minutes: MinuteBars) -> dict:
        first = day * DAY_MS // MINUTE_MS
        part = _merge(minutes.span(sym, first, first + DAY_MS // MINUTE_MS - 1))
        if day == self.start_day:
            part = _combine({k: v[sym, -1] for k, v in self._synth.items()}, part)
        return part

    def day_bars(self, sym: int, today: int, minutes: MinuteBars) -> Bars:
        """Daily bars of one contract from the first synthetic day to `today` (still open)."""
        rows = [{k: v[sym, d] for k, v in self._synth.items()} for d in range(SYNTHETIC_DAYS)]
        for day in range(self.start_day, today + 1):
            closed = self._closed.get(day)
            row = closed[sym] if closed else self._day_from_minutes(sym, day, minutes)
            if row["open"] == 0:  # no trade that day: flat at the previous close
                row = {**row, **dict.fromkeys(_PRICE_FIELDS, rows[-1]["close"])}
            rows.append(row)
        open_time = (self._first_day + np.arange(len(rows))) * DAY_MS
        return Bars(
            open_time=open_time,
            close_time=open_time + DAY_MS - 1,
            **{name: np.array([r[name] for r in rows]) for name in _BAR_FIELDS},
        )

    def before_start(self, window_start_ms: int) -> dict[str, np.ndarray] | None:
        """The synthetic past inside [window_start, start): the last synthetic day's share of it
        and all of the start day's part before the start (None when the window starts later).

        Volumes are pro rata; the extremes of every part that overlaps count in full.
        """
        if window_start_ms >= self.start_ms:
            return None
        day_start = self.start_day * DAY_MS
        today = {k: v[:, -1] for k, v in self._synth.items()}
        today_frac = (self.start_ms - max(window_start_ms, day_start)) / max(
            self.start_ms - day_start, 1
        )
        out = {k: today[k] * today_frac for k in _SUM_FIELDS}
        out.update(open=today["open"], high=today["high"], low=today["low"])
        if window_start_ms < day_start:
            yesterday = {k: v[:, -2] for k, v in self._synth.items()}
            frac = (day_start - window_start_ms) / DAY_MS
            for k in _SUM_FIELDS:
                out[k] = out[k] + yesterday[k] * frac
            out["open"] = yesterday["open"]
            out["high"] = np.maximum(out["high"], yesterday["high"])
            out["low"] = np.minimum(out["low"], yesterday["low"])
        return out


_PRICE_FIELDS = ("open", "high", "low", "close")
_SUM_FIELDS = ("volume", "quote", "trades", "taker_volume", "taker_quote")
_BAR_FIELDS = _PRICE_FIELDS + _SUM_FIELDS


def _merge(span: dict[str, np.ndarray]) -> dict:
    """Collapse valid minute rows into one bar (prices 0 when nothing traded)."""
    idx = np.flatnonzero(span["valid"])
    if len(idx) == 0:
        return {**dict.fromkeys(_PRICE_FIELDS, 0), **dict.fromkeys(_SUM_FIELDS, 0)}
    return {
        "open": int(span["open"][idx[0]]),
        "high": int(span["high"][idx].max()),
        "low": int(span["low"][idx].min()),
        "close": int(span["close"][idx[-1]]),
        **{k: span[k][idx].sum() for k in _SUM_FIELDS},
    }


def _combine(first: dict, second: dict) -> dict:
    if second["open"] == 0:
        return dict(first)
    return {
        "open": first["open"],
        "high": max(first["high"], second["high"]),
        "low": min(first["low"], second["low"]),
        "close": second["close"],
        **{k: first[k] + second[k] for k in _SUM_FIELDS},
    }


def intraday_bars(
    minutes: MinuteSpans, sym: int, interval_min: int, first_ms: int, now_ms: int, prev_close: int
) -> Bars:
    """Klines of `interval_min` minutes up to `now_ms`, gaps carried at the last close; quote
    volumes are the trades' own, past minutes included."""
    last_minute = now_ms // MINUTE_MS
    first_minute = first_ms // MINUTE_MS
    first_minute -= first_minute % interval_min
    span = minutes.span(sym, first_minute, last_minute, exact_quote=True)
    valid = span["valid"]
    # Carry the last traded close through minutes without trades.
    last_seen = np.maximum.accumulate(np.where(valid, np.arange(len(valid)), -1))
    carried = np.where(last_seen >= 0, span["close"][np.maximum(last_seen, 0)], prev_close)
    prev = np.concatenate([[prev_close], carried[:-1]])
    o = np.where(valid, span["open"], prev)
    h = np.where(valid, span["high"], prev)
    lo = np.where(valid, span["low"], prev)
    c = np.where(valid, span["close"], prev)
    bucket = (span["minute"] - span["minute"][0]) // interval_min
    starts = np.flatnonzero(np.diff(bucket, prepend=-1))
    ends = np.append(starts[1:], len(bucket)) - 1
    open_time = span["minute"][starts] * MINUTE_MS
    return Bars(
        open_time=open_time,
        close_time=open_time + interval_min * MINUTE_MS - 1,
        open=o[starts],
        high=np.maximum.reduceat(h, starts),
        low=np.minimum.reduceat(lo, starts),
        close=c[ends],
        volume=np.add.reduceat(np.where(valid, span["volume"], 0), starts),
        quote=np.add.reduceat(np.where(valid, span["quote"], 0.0), starts),
        trades=np.add.reduceat(np.where(valid, span["trades"], 0), starts),
        taker_volume=np.add.reduceat(np.where(valid, span["taker_volume"], 0), starts),
        taker_quote=np.add.reduceat(np.where(valid, span["taker_quote"], 0.0), starts),
    )


def regroup_days(days: Bars, interval: str) -> Bars:
    """Daily bars regrouped into 3d (epoch-anchored), 1w (Monday) or 1M (calendar) bars."""
    day = days.open_time // DAY_MS
    if interval == "1d":
        return days
    if interval == "3d":
        key = day // 3 * 3
        start_ms = key * DAY_MS
    elif interval == "1w":
        key = (day - 4) // 7 * 7 + 4  # 1970-01-05 was a Monday
        start_ms = key * DAY_MS
    else:
        months = days.open_time.astype("datetime64[ms]").astype("datetime64[M]")
        key = months.astype(np.int64)
        start_ms = months.astype("datetime64[ms]").astype(np.int64)
    starts = np.flatnonzero(np.diff(key, prepend=key[0] - 1))
    ends = np.append(starts[1:], len(key)) - 1
    open_time = start_ms[starts]
    if interval == "1M":
        nxt = (months[starts] + 1).astype("datetime64[ms]").astype(np.int64)
    else:
        width = 3 if interval == "3d" else 7
        nxt = open_time + width * DAY_MS
    return Bars(
        open_time=open_time,
        close_time=nxt - 1,
        open=days.open[starts],
        high=np.maximum.reduceat(days.high, starts),
        low=np.minimum.reduceat(days.low, starts),
        close=days.close[ends],
        volume=np.add.reduceat(days.volume, starts),
        quote=np.add.reduceat(days.quote, starts),
        trades=np.add.reduceat(days.trades, starts),
        taker_volume=np.add.reduceat(days.taker_volume, starts),
        taker_quote=np.add.reduceat(days.taker_quote, starts),
    )
