"""The follow-through record: how each kind of signal did, read from a research output.

    signal_record("research-out", symbols=["BTCUSDT"], timeframes=["5m"])

One row per (symbol, timeframe, kind, side) of the `signals` dataset (`orderflow research
signals`): `direction` (analytics.signals.DIRECTION), `count` (signals), and per horizon N in
5m, 15m, 60m `mean_return_N`, `median_return_N` and `hit_rate_N`, the share of the signals
whose return has the sign of their direction. Signals whose return is unknown (NaN: past the data)
count in neither the means nor the hit rate; a return of exactly 0 is a miss; the hit rate is
NaN for direction 0 (naked POC touches say nothing of the direction).

It reads only the columns it needs with pyarrow, from the chosen symbols' folders only, so a
dashboard session can call it once over a few hundred contract-days.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads

from pipelines.analytics.signals import KINDS, SIDES, SIGNAL_TIMEFRAMES
from pipelines.research.signal_day import COLUMNS, HORIZONS_MIN

KEYS = ("symbol", "timeframe", "kind", "side")
# Per return column: its mean, median and hit-rate columns.
_STATS = {name: (f"mean_{name}", f"median_{name}", f"hit_rate_{name.removeprefix('return_')}")
          for name in HORIZONS_MIN}  # fmt: skip
RECORD_COLUMNS = (*KEYS, "direction", "count", *(c for cols in _STATS.values() for c in cols))
# Timeframes by length, kinds and sides in their definition order (symbols by name).
_ORDER = {name: {v: i for i, v in enumerate(values)}
          for name, values in (("timeframe", SIGNAL_TIMEFRAMES), ("kind", KINDS), ("side", SIDES))}  # fmt: skip
_PARTITIONS = pads.partitioning(pa.schema([("symbol", pa.string()), ("date", pa.string())]),
                                flavor="hive")  # fmt: skip


def read_signals(
    out: str | Path,
    symbols: Sequence[str] | None = None,
    timeframes: Sequence[str] | None = None,
    columns: Sequence[str] = COLUMNS,
) -> pd.DataFrame:
    """Rows of a research `signals` dataset as one pandas frame (`symbol` from the partition
    folders, as text), only `columns`, only the given symbols and timeframes (None: all)."""
    root = Path(out) / "signals"
    if not root.is_dir():
        raise FileNotFoundError(f"no signals dataset in {out}")
    # Only the chosen contracts' folders are listed; a run's hidden temporary files never match.
    patterns = ([f"symbol={s}/date=*/part.parquet" for s in symbols] if symbols is not None
                else ["symbol=*/date=*/part.parquet"])  # fmt: skip
    files = sorted(str(p) for pattern in patterns for p in root.glob(pattern))
    if not files:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    data = pads.dataset(files, format="parquet", partitioning=_PARTITIONS,
                        partition_base_dir=str(root))  # fmt: skip
    where = pads.field("timeframe").isin(list(timeframes)) if timeframes is not None else None
    return data.to_table(columns=list(columns), filter=where).to_pandas()


def signal_record(
    out: str | Path,
    symbols: Sequence[str] | None = None,
    timeframes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The follow-through record of the signals in `out` (see the module doc): RECORD_COLUMNS,
    one row per (symbol, timeframe, kind, side) that has signals, in the order of the
    contracts' names, then timeframe length, KINDS and SIDES."""
    frame = read_signals(out, symbols, timeframes, (*KEYS, "direction", *HORIZONS_MIN))
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RECORD_COLUMNS})
    keys = list(KEYS)
    groups = frame.groupby(keys, sort=False)
    record = groups.agg(direction=("direction", "first"), count=("direction", "size"))
    direction = frame["direction"].to_numpy()
    for name, (mean, median, hit_rate) in _STATS.items():
        ret = frame[name].to_numpy(np.float64)
        # 1 hit, 0 miss, NaN not judged (return unknown, or no direction).
        hit = np.where(np.isfinite(ret) & (direction != 0), np.sign(ret) == direction, np.nan)
        record[mean] = groups[name].mean()
        record[median] = groups[name].median()
        record[hit_rate] = pd.Series(hit).groupby([frame[k] for k in keys], sort=False).mean()
    record = record.reset_index().sort_values(keys, key=_rank, kind="stable")
    return record[list(RECORD_COLUMNS)].reset_index(drop=True)


def _rank(column: pd.Series) -> pd.Series:
    ranks = _ORDER.get(str(column.name))
    return column if ranks is None else column.map(ranks)
