"""Research datasets on disk: Parquet partitioned by contract and date, written atomically.

    OUT/<kind>/symbol=<SYM>/date=<YYYY-MM-DD>/part.parquet

`dask.dataframe.read_parquet(OUT/<kind>)` reads a dataset with `symbol` and `date` as columns
(from the directory names). A partition is written to a hidden temporary file and renamed into
place, so a task killed mid-write never leaves a partition a rerun would take as done; Parquet
readers skip names starting with "." or "_". A contract-day's grid (tick and step, inferred
from the archive data or the exchange's) is in the `days` dataset and in each file's metadata.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.research.signal_day import COLUMNS as SIGNAL_DATASET_COLUMNS

# Written per contract-day; `orders` (every taker order) feeds `big-orders`.
DAY_KINDS = ("profiles", "minutes", "imbalance", "orders", "liquidations", "signals", "days")
KINDS = (*DAY_KINDS, "big-orders")
_FILE = "part.parquet"


def partition_path(out: str | Path, kind: str, symbol: str, day: dt.date) -> Path:
    return Path(out) / kind / f"symbol={symbol}" / f"date={day.isoformat()}" / _FILE


def has_partition(out: str | Path, kind: str, symbol: str, day: dt.date) -> bool:
    return partition_path(out, kind, symbol, day).exists()


def write_partition(
    frame: pd.DataFrame,
    out: str | Path,
    kind: str,
    symbol: str,
    day: dt.date,
    metadata: dict[str, str] | None = None,
    schema: pa.Schema | None = None,
) -> Path:
    """Write one partition atomically (temp file, then rename); returns its path. `schema`
    fixes the column types (an empty frame's object columns have none)."""
    path = partition_path(out, kind, symbol, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    if metadata:
        merged = {
            **(table.schema.metadata or {}),
            **{k.encode(): v.encode() for k, v in metadata.items()},
        }
        table = table.replace_schema_metadata(merged)
    tmp = path.with_name(f".{_FILE}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_partition(out: str | Path, kind: str, symbol: str, day: dt.date) -> pd.DataFrame:
    return pq.read_table(partition_path(out, kind, symbol, day)).to_pandas()


def file_metadata(path: str | Path) -> dict[str, str]:
    """The key-value metadata a partition file was written with (the schema alone is read)."""
    meta = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in meta.items() if k != b"pandas"}


def read_days(out: str | Path, symbol: str, days: list[dt.date]) -> list[tuple[dt.date, float]]:
    """(date, notional) of the `days` partitions that exist among `days`."""
    found = []
    for day in days:
        if has_partition(out, "days", symbol, day):
            found.append((day, float(read_partition(out, "days", symbol, day)["notional"].iloc[0])))
    return found


def read_dataset(out: str | Path, kind: str, **kwargs):  # -> dask.dataframe.DataFrame
    """A research dataset as a Dask DataFrame (symbol and date come from the partitions)."""
    import dask.dataframe as dd

    if kind not in KINDS:
        raise ValueError(f"unknown dataset {kind!r}; one of {', '.join(KINDS)}")
    root = Path(out) / kind
    if not root.is_dir():
        raise FileNotFoundError(f"no {kind} dataset in {out}")
    frame = dd.read_parquet(str(root), **kwargs)
    if kind == "signals" and "columns" not in kwargs:
        frame = frame[[*SIGNAL_DATASET_COLUMNS, "date"]]  # the export's order: `symbol` first
    return frame
