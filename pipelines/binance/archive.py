"""Reader for data.binance.vision USD-M aggTrades files (CSV, or the ZIP holding one CSV).

USD-M aggTrades files carry a header row only from 2022-08-11 on, so the header is detected per
file from its first line. Futures archives write `true`/`false`, spot archives `True`/`False`:
the maker flag is read case-insensitively and anything else is rejected with the file's name.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.binance.contracts import ContractSpec
from pipelines.records.dtypes import AGG_TRADE_COLUMNS, TRADE_DTYPE

# Spot files have an eighth column; it is kept under its archive name when there is no header.
_SPOT_EXTRA_COLUMN = "is_best_match"
_INTEGER_COLUMNS = ("agg_trade_id", "first_trade_id", "last_trade_id", "transact_time")


def read_agg_trades_csv(path: str | Path) -> pd.DataFrame:
    """An aggTrades archive file as a DataFrame in the data.binance.vision layout.

    Columns: agg_trade_id, price, quantity, first_trade_id, last_trade_id, transact_time (epoch
    ms), is_buyer_maker (bool; True means the taker sold). Raises ValueError naming the file
    when a column is missing or a value cannot be read.
    """
    path = Path(path)
    text = _read_text(path)
    first_line = text.split("\n", 1)[0].strip()
    if not first_line:
        return _empty()
    has_header = not first_line.split(",", 1)[0].strip().lstrip("-").isdigit()
    n_fields = first_line.count(",") + 1
    names = None
    if not has_header:
        if n_fields not in (len(AGG_TRADE_COLUMNS), len(AGG_TRADE_COLUMNS) + 1):
            raise ValueError(
                f"{path.name}: expected {len(AGG_TRADE_COLUMNS)} aggTrades fields, got {n_fields}"
            )
        names = [*AGG_TRADE_COLUMNS, _SPOT_EXTRA_COLUMN][:n_fields]
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            header=0 if has_header else None,
            names=names,
            dtype={"is_buyer_maker": str, _SPOT_EXTRA_COLUMN: str},
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path.name}: not an aggTrades CSV ({exc})") from exc
    missing = [c for c in AGG_TRADE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path.name}: missing aggTrades columns {missing}")
    return _typed(frame, path.name)


def _read_text(path: Path) -> str:
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            if len(members) != 1:
                raise ValueError(f"{path.name}: expected one CSV inside, found {members}")
            return archive.read(members[0]).decode("utf-8")
    return path.read_text(encoding="utf-8")


def _typed(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    out = frame.copy()
    try:
        for col in _INTEGER_COLUMNS:
            out[col] = out[col].astype(np.int64)
        for col in ("price", "quantity"):
            out[col] = out[col].astype(np.float64)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: unreadable numeric value ({exc})") from exc
    flags = out["is_buyer_maker"].astype(str).str.strip().str.lower()
    bad = ~flags.isin(("true", "false"))
    if bad.any():
        raise ValueError(
            f"{name}: is_buyer_maker must be true/false, got {flags[bad].iloc[0]!r} "
            f"on data row {int(np.flatnonzero(bad.to_numpy())[0]) + 1}"
        )
    out["is_buyer_maker"] = flags.eq("true").to_numpy()
    return out


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({c: np.zeros(0, dtype=np.int64) for c in AGG_TRADE_COLUMNS})
    frame["price"] = frame["price"].astype(np.float64)
    frame["quantity"] = frame["quantity"].astype(np.float64)
    frame["is_buyer_maker"] = frame["is_buyer_maker"].astype(bool)
    return frame


def trades_from_frame(trades: pd.DataFrame, spec: ContractSpec, sym: int = 0) -> np.ndarray:
    """An aggTrades DataFrame (data.binance.vision layout) as a `TRADE_DTYPE` array on the grid."""
    missing = {"price", "quantity", "transact_time", "is_buyer_maker"} - set(trades.columns)
    if missing:
        raise ValueError(f"trades lack the columns {sorted(missing)}")
    out = np.zeros(len(trades), dtype=TRADE_DTYPE)
    out["sym"] = sym
    n = len(trades)
    ids = trades["agg_trade_id"] if "agg_trade_id" in trades else np.arange(n)
    out["agg_id"] = np.asarray(ids, dtype=np.int64)
    for col, src in (("first_id", "first_trade_id"), ("last_id", "last_trade_id")):
        out[col] = np.asarray(trades[src], dtype=np.int64) if src in trades else out["agg_id"]
    out["time"] = np.asarray(trades["transact_time"], dtype=np.int64)
    out["price"] = spec.price_to_ticks(np.asarray(trades["price"], dtype=np.float64))
    out["qty"] = spec.qty_to_steps(np.asarray(trades["quantity"], dtype=np.float64))
    out["buyer_maker"] = _as_bool(trades["is_buyer_maker"])
    return out


def trades_to_frame(records: np.ndarray, spec: ContractSpec) -> pd.DataFrame:
    """A `TRADE_DTYPE` array of one contract back in the data.binance.vision layout."""
    return pd.DataFrame(
        {
            "agg_trade_id": records["agg_id"],
            "price": spec.ticks_to_price(records["price"]),
            "quantity": spec.steps_to_qty(records["qty"]),
            "first_trade_id": records["first_id"],
            "last_trade_id": records["last_id"],
            "transact_time": records["time"],
            "is_buyer_maker": records["buyer_maker"],
        }
    )


def _as_bool(values: pd.Series) -> np.ndarray:
    # Futures archives write true/false, spot archives True/False, CSV readers may keep strings.
    if values.dtype == bool:
        return values.to_numpy()
    return values.astype(str).str.lower().eq("true").to_numpy()
