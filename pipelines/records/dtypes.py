"""Columnar record layouts that travel through the platform as numpy structured arrays.

A micro-batch of trades is one `TRADE_DTYPE` array for all symbols: `sym` indexes the
`SymbolRegistry`, `price` is in integer ticks and `qty` in integer step units of that contract.
"""

from __future__ import annotations

import numpy as np

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

# The 1-minute tick profile (pipelines.analytics.profile), as the store keeps it.
PROFILE_LEVEL_DTYPE = np.dtype(
    [
        ("time", "i8"),  # minute open, epoch ms
        ("price", "i8"),  # exact tick
        ("bid", "i8"),  # taker-sell step units
        ("ask", "i8"),  # taker-buy step units
        ("bid_trades", "i8"),
        ("ask_trades", "i8"),
    ]
)
PROFILE_MINUTE_DTYPE = np.dtype(
    [
        ("time", "i8"),
        ("open", "i8"),  # ticks
        ("high", "i8"),
        ("low", "i8"),
        ("close", "i8"),
        ("buy", "i8"),  # step units
        ("sell", "i8"),
        ("trades", "i8"),
        ("max_delta", "i8"),  # running-delta extremes within the minute, step units
        ("min_delta", "i8"),
        ("first_agg_id", "i8"),  # aggTrade ids of the minute's first and last trade
        ("last_agg_id", "i8"),
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
