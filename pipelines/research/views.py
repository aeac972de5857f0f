"""Research datasets shaped for the views: the imbalance heatmap and the footprint.

The dashboard renders frames; these functions make the same frames from research datasets
(Dask DataFrames from `read_dataset`), and the datashader aggregates of a month x every
contract without materialising the cells:

* `heatmap_frame`: contracts x minutes of imbalance, the frame `ImbalanceTracker.heatmap`
  gives (index symbol, columns minute open in ms, NaN: no trade), for
  `dashboard.imbalance.heatmap_image`;
* `heatmap_points` / `heatmap_raster`: the same cells as points (x minute, y contract row)
  for `hv.Points` + `rasterize`, or a datashader canvas, straight on the Dask DataFrame;
* `load_profile`: a contract's minute profile over days, exact, for `footprint_from_profile`
  (any bin and timeframe, the frames the footprint view draws); `profile_raster`: taker volume
  per (minute, price) for a datashader heatmap of the profiles.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dask
import dask.dataframe as dd
import datashader as ds
import numpy as np
import pandas as pd
import xarray as xr

from pipelines.analytics.profile import MinuteProfile
from pipelines.binance.contracts import ContractSpec
from pipelines.records.dtypes import PROFILE_LEVEL_DTYPE, PROFILE_MINUTE_DTYPE
from pipelines.research.dataset import has_partition, read_partition
from pipelines.research.grids import common_spec, scale_factors
from pipelines.research.runner import days_between

MINUTE_MS = 60_000
Frame = dd.DataFrame | pd.DataFrame


def heatmap_points(imbalance: Frame) -> tuple[Frame, list[str]]:
    """(minute, row, imbalance) per contract-minute, and the contract names of the rows
    (sorted, as in `heatmap_frame`)."""
    symbols = imbalance["symbol"].astype("category")
    if isinstance(symbols, dd.Series) and not symbols.cat.known:
        symbols = symbols.cat.as_known()
    # Rows in name order, whatever order the partitions were discovered in.
    names = sorted(str(s) for s in symbols.cat.categories)
    symbols = symbols.cat.set_categories(names)
    points = imbalance[["minute", "imbalance"]].assign(row=symbols.cat.codes.astype(np.int32))
    return points, names


def heatmap_frame(
    imbalance: Frame, start_ms: int | None = None, end_ms: int | None = None
) -> pd.DataFrame:
    """Contracts x every minute in [start_ms, end_ms) (default: the data's span) of imbalance."""
    cols = imbalance[["symbol", "minute", "imbalance"]]
    if start_ms is not None:
        cols = cols[cols["minute"] >= start_ms]
    if end_ms is not None:
        cols = cols[cols["minute"] < end_ms]
    cells = cols.compute() if isinstance(cols, dd.DataFrame) else cols
    cells = cells.assign(symbol=cells["symbol"].astype(str))
    first = int(cells["minute"].min()) if start_ms is None else start_ms // MINUTE_MS * MINUTE_MS
    last = int(cells["minute"].max()) + MINUTE_MS if end_ms is None else end_ms
    minutes = pd.Index(np.arange(first, last, MINUTE_MS, dtype=np.int64), name="minute")
    wide = cells.pivot_table(index="symbol", columns="minute", values="imbalance", aggfunc="first")
    wide = wide.reindex(columns=minutes).sort_index()
    wide.index.name = "symbol"
    return wide.astype(np.float64)


def heatmap_raster(imbalance: Frame, width: int = 1200, height: int = 600) -> xr.DataArray:
    """Mean imbalance on a width x height canvas (x minute, y contract row), by datashader."""
    points, names = heatmap_points(imbalance)
    canvas = ds.Canvas(plot_width=width, plot_height=min(height, max(1, len(names))),
                       y_range=(-0.5, len(names) - 0.5))  # fmt: skip
    return canvas.points(points, x="minute", y="row", agg=ds.mean("imbalance"))


def load_profile(out: str | Path, symbol: str, start: dt.date, end: dt.date) -> MinuteProfile:
    """One contract's minute profile over [start, end] from the profiles and minutes datasets.

    Each day's grid may differ (an archive grid is inferred per day); the days are put on the
    finest one by integer scaling, so the profile stays exact.
    """
    days = [d for d in days_between(start, end) if has_partition(out, "days", symbol, d)]
    grids = [read_partition(out, "days", symbol, d).iloc[0] for d in days]
    specs = [ContractSpec(symbol, g["tick_size"], g["step_size"]) for g in grids]
    if not specs:
        raise ValueError(f"no research days of {symbol} between {start} and {end} in {out}")
    common = common_spec(symbol, specs)
    parts = []
    for day, spec in zip(days, specs, strict=True):
        p, q = scale_factors(spec, common)
        lv = read_partition(out, "profiles", symbol, day)
        mn = read_partition(out, "minutes", symbol, day)
        levels = np.zeros(len(lv), PROFILE_LEVEL_DTYPE)
        levels["time"] = lv["minute"]
        levels["price"] = lv["price_ticks"].to_numpy(np.int64) * p
        levels["bid"] = lv["bid_steps"].to_numpy(np.int64) * q
        levels["ask"] = lv["ask_steps"].to_numpy(np.int64) * q
        levels["bid_trades"] = lv["bid_trades"]
        levels["ask_trades"] = lv["ask_trades"]
        minutes = np.zeros(len(mn), PROFILE_MINUTE_DTYPE)
        minutes["time"] = mn["minute"]
        for name in ("open", "high", "low", "close"):
            minutes[name] = mn[name].to_numpy(np.int64) * p
        for name in ("buy", "sell", "max_delta", "min_delta"):
            minutes[name] = mn[name].to_numpy(np.int64) * q
        minutes["trades"] = mn["trades"]
        parts.append(MinuteProfile(common, levels, minutes))
    return MinuteProfile.concat(common, parts)


def profile_raster(
    profiles: Frame, symbol: str, width: int = 1200, height: int = 600
) -> xr.DataArray:
    """Taker volume (bid + ask) of one contract per (minute, price) cell, by datashader."""
    rows = profiles[profiles["symbol"] == symbol]
    rows = rows[["minute", "price", "bid", "ask"]].assign(volume=rows["bid"] + rows["ask"])
    ranges = [rows["minute"].min(), rows["minute"].max(), rows["price"].min(), rows["price"].max()]
    if isinstance(rows, dd.DataFrame):
        # datashader's own range pass fails on the empty partitions of other contracts.
        ranges = dask.compute(*ranges)
    x0, x1, y0, y1 = (float(v) for v in ranges)
    canvas = ds.Canvas(plot_width=width, plot_height=height, x_range=(x0, x1 + MINUTE_MS),
                       y_range=(y0, y1 if y1 > y0 else y0 + 1.0))  # fmt: skip
    return canvas.points(rows, x="minute", y="price", agg=ds.sum("volume"))
