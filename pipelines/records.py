"""Columnar record layouts that travel through the platform as numpy structured arrays.

A micro-batch of trades is one `TRADE_DTYPE` array for all symbols: `sym` indexes the
`SymbolRegistry`, `price` is in integer ticks and `qty` in integer step units of that contract.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.binance.contracts import ContractSpec

TRADE_DTYPE = np.dtype(
    [
        ("sym", "i4"),
        ("agg_id", "i8"),
        ("first_id", "i8"),
        ("last_id", "i8"),
        ("time", "i8"),  # transact time T, epoch ms
        ("price", "i8"),  # ticks
        ("qty", "i8"),  # step units
        ("buyer_maker", "?"),  # True: the taker sold
        ("event_time", "i8"),  # E, epoch ms (0 when backfilled from REST)
    ]
)

LIQUIDATION_DTYPE = np.dtype(
    [
        ("sym", "i4"),
        ("time", "i8"),  # T, epoch ms
        ("event_time", "i8"),
        ("long_liquidated", "?"),  # order side SELL: a long position was closed by the engine
        ("price", "f8"),  # average fill price `ap`
        ("qty", "f8"),  # accumulated filled quantity `z`
        ("notional", "f8"),  # ap * z, USD
    ]
)

TICKER_DTYPE = np.dtype(
    [
        ("sym", "i4"),
        ("event_time", "i8"),
        ("last", "f8"),
        ("base_volume", "f8"),
        ("quote_volume", "f8"),  # rolling 24 h, USD
        ("trades", "i8"),  # -1 for mini tickers, which do not carry a count
    ]
)

KLINE_DTYPE = np.dtype(
    [
        ("sym", "i4"),
        ("open_time", "i8"),
        ("close_time", "i8"),
        ("open", "f8"),
        ("high", "f8"),
        ("low", "f8"),
        ("close", "f8"),
        ("volume", "f8"),
        ("quote_volume", "f8"),
        ("trades", "i8"),
        ("taker_buy_volume", "f8"),
        ("taker_buy_quote_volume", "f8"),
        ("closed", "?"),
    ]
)

BOOK_TICKER_DTYPE = np.dtype(
    [
        ("sym", "i4"),
        ("event_time", "i8"),
        ("bid", "f8"),
        ("bid_qty", "f8"),
        ("ask", "f8"),
        ("ask_qty", "f8"),
    ]
)

# The data.binance.vision USD-M aggTrades layout, also the REST aggTrades fields a,p,q,f,l,T,m.
AGG_TRADE_COLUMNS = (
    "agg_trade_id",
    "price",
    "quantity",
    "first_trade_id",
    "last_trade_id",
    "transact_time",
    "is_buyer_maker",
)


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
