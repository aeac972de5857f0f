"""Export stored trades, a footprint built from them, stored signals or a stored order book's
history, to Parquet or CSV.

Trades come out in the data.binance.vision aggTrades layout, so an export reads back with the
same code as an exchange archive. A footprint is built from the raw trades while they cover the
whole range; once trades of the range have been pruned, from the lossless minute profiles
(the two give the same footprint), so long ranges export without raw trades. Signals come out
in their output schema (`SIGNAL_COLUMNS`), made from the stored grid integers by `signal_frame`.
A book comes out as one row per second, side and level (`BOOK_COLUMNS`), its floats made once
from the stored integer ticks and steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.records.timeunits import MINUTE_MS
from pipelines.storage.store import Store

FORMATS = ("parquet", "csv")
BOOK_COLUMNS = ("time", "side", "price", "quantity")


def parse_time(text: str) -> int:
    """Epoch ms from digits (ms) or an ISO-8601 date/time (UTC unless it carries an offset)."""
    value = str(text).strip()
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is neither epoch milliseconds nor an ISO-8601 time (2024-08-08T23:54:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def format_of(path: Path, fmt: str | None) -> str:
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def write_frame(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def export_trades(
    store: Store, symbol: str, start_ms: int, end_ms: int, out: Path, fmt: str
) -> int:
    """Write the symbol's trades in [start_ms, end_ms); returns the number of trades."""
    frame = store.load_trades_frame(symbol, start_ms, end_ms)
    write_frame(frame, out, fmt)
    return len(frame)


def export_signals(
    store: Store, symbol: str, start_ms: int, end_ms: int, out: Path, fmt: str
) -> int:
    """Write the symbol's signals of the bars opening in [start_ms, end_ms); returns how many."""
    frame = store.load_signals_frame(start_ms, end_ms, [symbol])
    write_frame(frame, out, fmt)
    return len(frame)


def book_frame(store: Store, symbol: str, start_ms: int, end_ms: int) -> pd.DataFrame:
    """The stored book at every second end in [start_ms, end_ms): `BOOK_COLUMNS`, by time,
    bids (best first) before asks (best first); `time` is the second's end (epoch ms)."""
    states, spec = store.load_book(symbol, start_ms, end_ms)
    parts = []
    for time, levels in states:
        for side, rows in (("bid", levels.bids[::-1]), ("ask", levels.asks)):
            parts.append((np.full(len(rows), time, np.int64), side, rows))
    if spec is None or not parts:
        return pd.DataFrame({"time": np.zeros(0, np.int64), "side": np.zeros(0, object),
                             "price": np.zeros(0), "quantity": np.zeros(0)})  # fmt: skip
    rows = np.concatenate([p[2] for p in parts])
    return pd.DataFrame(
        {
            "time": np.concatenate([p[0] for p in parts]),
            "side": np.concatenate([np.full(len(p[2]), p[1], object) for p in parts]),
            "price": spec.ticks_to_price(rows[:, 0]),
            "quantity": spec.steps_to_qty(rows[:, 1]),
        }
    )


def export_book(store: Store, symbol: str, start_ms: int, end_ms: int, out: Path, fmt: str) -> int:
    """Write the symbol's book history of [start_ms, end_ms); returns the number of seconds."""
    frame = book_frame(store, symbol, start_ms, end_ms)
    write_frame(frame, out, fmt)
    return int(frame["time"].nunique())


@dataclass(frozen=True, slots=True)
class FootprintExport:
    levels_path: Path
    bars_path: Path
    levels: int
    bars: int
    source: str  # "trades" or "minute profiles"


def export_footprint(
    store: Store,
    symbol: str,
    start_ms: int,
    end_ms: int,
    out: Path,
    fmt: str,
    *,
    price_bin_ticks: int = 1,
    timeframe: str = "1m",
) -> FootprintExport:
    """Write `<out stem>.levels.<fmt>` and `<out stem>.bars.<fmt>` for whole minutes of the range."""
    from pipelines.analytics.footprint import build_footprint, footprint_from_profile

    start = start_ms // MINUTE_MS * MINUTE_MS
    end = -(-end_ms // MINUTE_MS) * MINUTE_MS
    spec = store.spec(symbol)
    bars, _ = store.load_minute_bars(symbol, start, end)
    trades = store.load_trades_frame(symbol, start, end)
    if len(trades) == int(bars["trades"].sum()):
        footprint = build_footprint(
            trades,
            tick_size=spec.tick_size,
            step_size=spec.step_size,
            price_bin_ticks=price_bin_ticks,
            timeframe=timeframe,
        )
        source = "trades"
    else:  # some raw trades of the range were pruned
        profile = store.load_minute_profile(symbol, start, end)
        footprint = footprint_from_profile(profile, price_bin_ticks, timeframe)
        source = "minute profiles"
    stem = out.with_suffix("") if out.suffix.lstrip(".").lower() in FORMATS else out
    levels_path = stem.parent / f"{stem.name}.levels.{fmt}"
    bars_path = stem.parent / f"{stem.name}.bars.{fmt}"
    write_frame(footprint.levels, levels_path, fmt)
    write_frame(footprint.bars, bars_path, fmt)
    return FootprintExport(
        levels_path, bars_path, len(footprint.levels), len(footprint.bars), source
    )
