"""Forced liquidations from `!forceOrder@arr`: rolling totals, largest, per-minute histogram.

Side is the position that was liquidated: order side SELL closed a long ("long"), BUY closed a
short ("short"). Price is the average fill price `ap`, quantity the filled quantity `z`, notional
ap x z (USD).

Lower bound: Binance pushes at most one liquidation per contract per second (the latest), so
every total, count and histogram here undercounts whenever a contract has several liquidations
in one second, as in cascades. The largest single liquidation is the largest one pushed.

Capped contract-seconds: a contract reported in two consecutive seconds (or twice in one
second, which only a replay can do) was liquidating at the feed's limit, so that second may
have hidden more. Each row carries `capped`; totals carry the notional of capped rows, so a
view can say how much of a lower bound sits where the cap bit.

Windows are (now - W, now]; histogram minutes follow the imbalance convention: the complete
minutes before now plus the current one, minute = floor(time / 60 000).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipelines.analytics.ring import SequencedRing
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.dtypes import LIQUIDATION_DTYPE
from pipelines.records.timeunits import HOUR_MS, MINUTE_MS

WINDOWS = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "12h": 12 * HOUR_MS, "24h": 24 * HOUR_MS}
DEFAULT_WINDOWS = tuple(WINDOWS)
FRAME_COLUMNS = ("symbol", "time", "side", "price", "qty", "notional")
TOTAL_COLUMNS = (
    "symbol",
    "window",
    "long_notional",
    "short_notional",
    "total_notional",
    "long_count",
    "short_count",
    "largest_notional",
    "largest_side",
    "largest_time",
    "largest_price",
    "capped_notional",
)

Liquidations = pd.DataFrame | np.ndarray


def window_ms(window: str) -> int:
    try:
        return WINDOWS[window]
    except (KeyError, TypeError):
        raise ValueError(f"unknown window {window!r}; use one of {', '.join(WINDOWS)}") from None


def capped_seconds(sym: np.ndarray, time_ms: np.ndarray) -> np.ndarray:
    """Per row: True when the same contract also has a row in the second before or after, or
    another in the same second (the feed was at its one-per-second limit there)."""
    sym = np.asarray(sym, dtype=np.int64)
    second = np.asarray(time_ms, dtype=np.int64) // 1000
    key = sym * (1 << 40) + second  # seconds since 1970 stay below 2**40 until year 36812
    if len(key) == 0:
        return np.zeros(0, dtype=bool)
    unique, counts = np.unique(key, return_counts=True)
    repeated = unique[counts > 1]
    return np.isin(key - 1, unique) | np.isin(key + 1, unique) | np.isin(key, repeated)


def liquidations_frame(records: np.ndarray, registry: SymbolRegistry) -> pd.DataFrame:
    """`LIQUIDATION_DTYPE` rows as a frame: symbol, time, side ('long'/'short'), price, qty,
    notional, capped (see `capped_seconds`, among these rows)."""
    names = np.array([*registry.symbols, ""], dtype=object)
    return pd.DataFrame(
        {
            "symbol": names[records["sym"]] if len(records) else np.zeros(0, dtype=object),
            "time": records["time"].astype(np.int64),
            "side": np.where(records["long_liquidated"], "long", "short").astype(object),
            "price": records["price"].astype(np.float64),
            "qty": records["qty"].astype(np.float64),
            "notional": records["notional"].astype(np.float64),
            "capped": capped_seconds(records["sym"], records["time"]),
        }
    )


def _frame(liquidations: Liquidations, registry: SymbolRegistry | None) -> pd.DataFrame:
    if isinstance(liquidations, np.ndarray):
        if registry is None:
            raise ValueError("liquidation records need the registry that names their symbols")
        return liquidations_frame(liquidations, registry)
    frame = liquidations
    if "side" not in frame and "long_liquidated" in frame:
        side = np.where(frame["long_liquidated"].to_numpy(dtype=bool), "long", "short")
        frame = frame.assign(side=side.astype(object))
    if "notional" not in frame and {"price", "qty"} <= set(frame.columns):
        frame = frame.assign(notional=frame["price"] * frame["qty"])
    if "capped" not in frame and {"symbol", "time"} <= set(frame.columns):
        codes = pd.factorize(frame["symbol"])[0]
        frame = frame.assign(capped=capped_seconds(codes, frame["time"].to_numpy()))
    missing = {"symbol", "time", "side", "notional"} - set(frame.columns)
    if missing:
        raise ValueError(f"liquidations lack the columns {sorted(missing)}")
    bad = ~frame["side"].isin(("long", "short"))
    if bad.any():
        raise ValueError(f"side must be 'long' or 'short', got {frame['side'][bad].iloc[0]!r}")
    return frame


def _selected(frame: pd.DataFrame, min_notional: float, symbol: str | None = None) -> pd.DataFrame:
    keep = frame["notional"] >= min_notional
    if symbol is not None:
        keep &= frame["symbol"] == symbol
    return frame[keep]


def liquidation_totals(
    liquidations: Liquidations,
    now_ms: int,
    *,
    windows: Sequence[str] = DEFAULT_WINDOWS,
    min_notional: float = 0.0,
    registry: SymbolRegistry | None = None,
) -> pd.DataFrame:
    """Per contract and window: long/short notional and counts and the largest liquidation.

    Only liquidations of at least `min_notional` count; contracts with none in a window get no
    row. Totals are a lower bound (one liquidation per contract per second is published).
    """
    # Caps are judged on every row reported, before any notional floor hides some.
    frame = _selected(_frame(liquidations, registry), min_notional)
    parts = []
    for window in windows:
        span = window_ms(window)
        inside = frame[(frame["time"] > now_ms - span) & (frame["time"] <= now_ms)]
        parts.append(_totals(inside, window))
    if not parts:
        return pd.DataFrame({c: [] for c in TOTAL_COLUMNS})
    return pd.concat(parts, ignore_index=True)


def _totals(inside: pd.DataFrame, window: str) -> pd.DataFrame:
    # numpy sums per contract: a pandas groupby, sort and de-duplication per window cost a
    # Liquidations session most of its refresh.
    codes = np.unique(inside["symbol"].to_numpy(dtype=object), return_inverse=True)[1]
    n = int(codes.max(initial=-1)) + 1
    notional = inside["notional"].to_numpy(dtype=np.float64)
    is_long = inside["side"].to_numpy(dtype=object) == "long"
    capped = inside["capped"].to_numpy(dtype=bool)
    long_notional = _sum_by(codes, np.where(is_long, notional, 0.0), n)
    short_notional = _sum_by(codes, np.where(is_long, 0.0, notional), n)
    # The largest row of each contract; on equal notional the earliest one.
    order = np.lexsort((inside["time"].to_numpy(dtype=np.int64), -notional, codes))
    largest = order[np.r_[True, np.diff(codes[order]) != 0]] if len(order) else order
    out = pd.DataFrame({"symbol": inside["symbol"].take(largest).reset_index(drop=True)})
    out["window"] = window
    out["long_notional"] = long_notional
    out["short_notional"] = short_notional
    out["total_notional"] = long_notional + short_notional
    out["long_count"] = np.bincount(codes[is_long], minlength=n).astype(np.int64)
    out["short_count"] = np.bincount(codes[~is_long], minlength=n).astype(np.int64)
    out["largest_notional"] = notional[largest]
    out["largest_side"] = inside["side"].to_numpy(dtype=object)[largest]
    out["largest_time"] = inside["time"].to_numpy(dtype=np.int64)[largest]
    out["largest_price"] = (
        inside["price"].to_numpy(dtype=np.float64)[largest] if "price" in inside else np.nan
    )
    out["capped_notional"] = _sum_by(codes, np.where(capped, notional, 0.0), n)
    return out


def liquidation_ranking(
    liquidations: Liquidations,
    now_ms: int,
    *,
    window: str = "1h",
    min_notional: float = 0.0,
    registry: SymbolRegistry | None = None,
) -> pd.DataFrame:
    """Contracts by liquidated notional in `window`, largest first (a lower bound)."""
    totals = liquidation_totals(
        liquidations, now_ms, windows=(window,), min_notional=min_notional, registry=registry
    )
    return totals.sort_values(
        ["total_notional", "symbol"], ascending=[False, True], ignore_index=True
    )


def liquidation_histogram(
    liquidations: Liquidations,
    now_ms: int,
    *,
    minutes: int = 60,
    symbol: str | None = None,
    min_notional: float = 0.0,
    registry: SymbolRegistry | None = None,
) -> pd.DataFrame:
    """Long and short liquidated notional and counts per minute, every minute of the `minutes`
    complete minutes before now and the current one (zeros where none); one contract or all.
    A lower bound, like every total here."""
    frame = _selected(_frame(liquidations, registry), min_notional, symbol)
    m_now = int(now_ms) // MINUTE_MS
    first = m_now - int(minutes)
    minute = frame["time"].to_numpy(dtype=np.int64) // MINUTE_MS
    frame = frame[(minute >= first) & (minute <= m_now)]
    is_long = frame["side"].to_numpy() == "long"
    col = frame["time"].to_numpy(dtype=np.int64) // MINUTE_MS - first
    n = m_now - first + 1
    notional = frame["notional"].to_numpy(dtype=np.float64)
    return pd.DataFrame(
        {
            "minute": (first + np.arange(n)) * MINUTE_MS,
            "long_notional": _sum_by(col[is_long], notional[is_long], n),
            "short_notional": _sum_by(col[~is_long], notional[~is_long], n),
            "long_count": np.bincount(col[is_long], minlength=n),
            "short_count": np.bincount(col[~is_long], minlength=n),
        }
    )


def _sum_by(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(index, values, n).astype(np.float64)  # float also when empty


class LiquidationTracker:
    """Liquidations of every contract over the last `history_ms` (25 h), fed by parsed batches.

    Rows are kept in a bounded ring (at most `capacity`; in an extreme cascade the oldest go
    first) with sequence numbers, so the UI can ask only for rows it has not shown. Totals,
    ranking and histogram are the pure functions of this module on the rows held, and are a
    lower bound like them.
    """

    def __init__(
        self,
        registry: SymbolRegistry,
        *,
        history_ms: int = 25 * HOUR_MS,
        capacity: int = 200_000,
    ) -> None:
        if history_ms < WINDOWS["24h"]:
            raise ValueError(f"history_ms must cover 24 h, got {history_ms}")
        self.registry = registry
        self.history_ms = int(history_ms)
        self.history = SequencedRing(LIQUIDATION_DTYPE, capacity)
        self._latest = -(2**62)
        # Snapshots shared by every session until the rows (or, for totals and histogram, the
        # clock) change them.
        self._frame: tuple[tuple, pd.DataFrame] | None = None
        self._totals: tuple[tuple, int, float, pd.DataFrame] | None = None
        self._histogram: tuple[tuple, pd.DataFrame] | None = None

    @property
    def last_seq(self) -> int:
        return self.history.last_seq

    def update(self, records: np.ndarray) -> int:
        """Add parsed liquidations (`LIQUIDATION_DTYPE`); returns the last sequence number."""
        if records.dtype != LIQUIDATION_DTYPE:
            raise ValueError(f"expected LIQUIDATION_DTYPE rows, got {records.dtype}")
        known = self.registry.known(records)
        records = records[known]
        if len(records):
            self._latest = max(self._latest, int(records["time"].max()))
            self.history.append(records[np.argsort(records["time"], kind="stable")])
            self.prune(self._latest)
        return self.history.last_seq

    def prune(self, now_ms: int) -> int:
        """Drop rows older than `history_ms` before `now_ms`; returns how many."""
        return self.history.drop_before("time", int(now_ms) - self.history_ms)

    def _held(self) -> tuple[int, int]:
        """Which rows are held: changes with every append and every prune."""
        return self.history.first_seq, self.history.last_seq

    def frame(self) -> pd.DataFrame:
        """Every row held (`liquidations_frame`); one frame per change of the rows."""
        if self._frame is None or self._frame[0] != self._held():
            rows, _ = self.history.since(0)
            self._frame = (self._held(), liquidations_frame(rows, self.registry))
        return self._frame[1].copy()

    def since(self, seq: int = 0, *, min_notional: float = 0.0) -> pd.DataFrame:
        """Rows with a sequence number above `seq` (column `seq`) of at least `min_notional`."""
        # A cap is judged against the row's neighbours: take the rows of the second before
        # too (at most one per contract per second, so two per contract cover it).
        rows, seqs = self.history.since(max(0, seq - 2 * len(self.registry) - 16))
        frame = liquidations_frame(rows, self.registry)
        keep = (seqs > seq) & (rows["notional"] >= min_notional)
        frame = frame[keep].reset_index(drop=True)
        frame.insert(0, "seq", seqs[keep])
        return frame

    def totals(
        self, now_ms: int, *, windows: Sequence[str] = DEFAULT_WINDOWS, min_notional: float = 0.0
    ) -> pd.DataFrame:
        """`liquidation_totals` of the rows held. Computed again only when the rows change or
        `now_ms` reaches the next time a row enters or leaves a window, not per refresh."""
        key = (self._held(), tuple(windows), float(min_notional))
        cached = self._totals
        if cached is None or cached[0] != key or not cached[1] <= now_ms < cached[2]:
            frame = self.frame()
            totals = liquidation_totals(frame, now_ms, windows=windows, min_notional=min_notional)
            time = frame["time"].to_numpy(dtype=np.int64)[frame["notional"] >= min_notional]
            changes = [time[time > now_ms]]  # rows stamped ahead of the clock enter later
            for window in windows:
                span = window_ms(window)
                changes.append(time[(time > now_ms - span) & (time <= now_ms)] + span)  # leave
            until = min((float(c.min()) for c in changes if len(c)), default=float("inf"))
            cached = self._totals = (key, int(now_ms), until, totals)
        return cached[3].copy()

    def ranking(
        self, now_ms: int, *, window: str = "1h", min_notional: float = 0.0
    ) -> pd.DataFrame:
        return liquidation_ranking(self.frame(), now_ms, window=window, min_notional=min_notional)

    def histogram(
        self,
        now_ms: int,
        *,
        minutes: int = 60,
        symbol: str | None = None,
        min_notional: float = 0.0,
    ) -> pd.DataFrame:
        # The histogram changes with the rows and the current minute only.
        key = (self._held(), int(now_ms) // MINUTE_MS, minutes, symbol, float(min_notional))
        if self._histogram is None or self._histogram[0] != key:
            frame = liquidation_histogram(
                self.frame(), now_ms, minutes=minutes, symbol=symbol, min_notional=min_notional
            )
            self._histogram = (key, frame)
        return self._histogram[1].copy()
