"""Ground truth: every aggTrade the stand-in generated, written once, whatever faults did to it.

The truth file is CSV (header, then rows appended in batches by pyarrow's CSV writer, which
keeps up with 60k trades/s) with the platform's trade columns: symbol, agg_trade_id, price,
quantity, transact_time, is_buyer_maker. Prices and quantities are the floats nearest to the
decimal values sent on the wire (integer units divided by a power of ten, correctly rounded), so
`ContractSpec.price_to_ticks` maps them back exactly. Duplicated, malformed, reordered or
skipped frames are transport faults and never change the truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from pipelines.standin.market import Market

TRUTH_COLUMNS = (
    "symbol",
    "agg_trade_id",
    "price",
    "quantity",
    "transact_time",
    "is_buyer_maker",
)
_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("agg_trade_id", pa.int64()),
        ("price", pa.float64()),
        ("quantity", pa.float64()),
        ("transact_time", pa.int64()),
        ("is_buyer_maker", pa.bool_()),
    ]
)
_FLUSH_ROWS = 200_000


def truth_frame(trades: np.ndarray, market: Market) -> pd.DataFrame:
    """`TRADE_DTYPE` rows (market symbol indices) in the truth layout."""
    return _table(trades, market).to_pandas()


def _table(trades: np.ndarray, market: Market) -> pa.Table:
    sym = trades["sym"]
    specs = [c.spec for c in market.contracts]
    tick_units = np.array([s.tick_units for s in specs], dtype=np.int64)
    price_scale = 10.0 ** np.array([s.price_decimals for s in specs])
    step_units = np.array([s.step_units for s in specs], dtype=np.int64)
    qty_scale = 10.0 ** np.array([s.qty_decimals for s in specs])
    names = np.array(market.symbols, dtype=object)
    return pa.table(
        {
            "symbol": pa.array(names[sym], type=pa.string()),
            "agg_trade_id": trades["agg_id"],
            "price": trades["price"] * tick_units[sym] / price_scale[sym],
            "quantity": trades["qty"] * step_units[sym] / qty_scale[sym],
            "transact_time": trades["time"],
            "is_buyer_maker": trades["buyer_maker"],
        },
        schema=_SCHEMA,
    )


class TruthRecorder:
    """Appends generated trades to a CSV file in batches; `close()` flushes the rest."""

    def __init__(self, path: str | Path, market: Market) -> None:
        self.path = Path(path)
        self.market = market
        self.rows = 0
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._sink = pa.OSFile(str(self.path), "wb")
        self._writer = pa_csv.CSVWriter(
            self._sink, _SCHEMA, write_options=pa_csv.WriteOptions(quoting_style="needed")
        )

    def record(self, trades: np.ndarray) -> None:
        if len(trades) == 0:
            return
        self._pending.append(trades)
        self._pending_rows += len(trades)
        if self._pending_rows >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        trades = np.concatenate(self._pending)
        self._pending.clear()
        self._pending_rows = 0
        self._writer.write_table(_table(trades, self.market))
        self.rows += len(trades)

    def close(self) -> None:
        self.flush()
        self._writer.close()
        self._sink.close()


def read_truth(path: str | Path) -> pd.DataFrame:
    """A truth file as a DataFrame with exactly `TRUTH_COLUMNS`, sorted by symbol and id."""
    frame = pd.read_csv(
        path,
        dtype={
            "symbol": str,
            "agg_trade_id": np.int64,
            "price": np.float64,
            "quantity": np.float64,
            "transact_time": np.int64,
        },
        keep_default_na=False,
    )
    missing = set(TRUTH_COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"{path} is not a truth file: it lacks {sorted(missing)}")
    frame["is_buyer_maker"] = frame["is_buyer_maker"].astype(str).str.lower().eq("true")
    frame = frame[list(TRUTH_COLUMNS)]
    return frame.sort_values(["symbol", "agg_trade_id"], kind="stable").reset_index(drop=True)
