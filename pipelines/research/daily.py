"""The research outputs of one contract-day, computed by the single-process analytics.

Every frame here comes from the platform's own functions on the day's `TRADE_DTYPE` records:
the minute tick profile is `analytics.profile.profile_from_records`, taker orders are
`analytics.bigorders.taker_orders`, big orders `big_orders`; the minute flow imbalance is summed
from the profile's integer cells (ticks x steps) and made float the way `imbalance` makes it.
So a research dataset holds exactly what the analytics give on the same trades.

Frames carry no `symbol`/`date` column: those are the partition keys (see dataset.py).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from pipelines.analytics.bigorders import big_orders, taker_orders
from pipelines.analytics.book_imbalance import imbalance_ratio
from pipelines.analytics.profile import MinuteProfile, profile_from_records
from pipelines.analytics.tradeframe import Grid
from pipelines.binance.archive import trades_to_frame
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.research.sources import DayTrades

ADV_DAYS = 30
DEFAULT_THRESHOLD = 0.005  # 0.5 % of ADV

SUMMARY_COLUMNS = (
    "trades", "notional", "buy_notional", "sell_notional", "first_time", "last_time",
    "tick_size", "step_size", "grid",
)  # fmt: skip


def _grid(spec: ContractSpec) -> Grid:
    return Grid.of(SymbolRegistry([spec]))


def summary(day: DayTrades) -> pd.DataFrame:
    """One row: the day's trade count, taker quote notional (the ADV input) and its grid."""
    rec = day.records
    sell = rec["buyer_maker"]
    units = rec["price"] * rec["qty"]  # ticks x steps, exact
    sell_units, buy_units = int(units[sell].sum()), int(units[~sell].sum())
    # int64 sums: a day's notional in grid units stays far below 2**63 for any real contract.
    if float(rec["price"].max(initial=0)) * float(rec["qty"].sum()) >= 2.0**62:
        raise OverflowError(f"{day.symbol} {day.day}: notional overflows int64 grid units")
    grid = _grid(day.spec)
    buy, sell_q = grid.quote(0, np.array([buy_units, sell_units]))
    return pd.DataFrame(
        {
            "trades": [len(rec)],
            "notional": [float(grid.quote(0, np.array([buy_units + sell_units]))[0])],
            "buy_notional": [float(buy)],
            "sell_notional": [float(sell_q)],
            "first_time": [int(rec["time"].min())],
            "last_time": [int(rec["time"].max())],
            "tick_size": [day.spec.tick_size],
            "step_size": [day.spec.step_size],
            "grid": [day.grid],
        }
    )


def profile(day: DayTrades) -> MinuteProfile:
    return profile_from_records(day.records, day.spec)


def profile_levels(prof: MinuteProfile) -> pd.DataFrame:
    """Minute tick profile rows: minute, price (float), bid/ask (taker sell/buy quantity),
    trades, and the exact grid integers they come from."""
    lv, spec = prof.levels, prof.spec
    return pd.DataFrame(
        {
            "minute": lv["time"],
            "price": spec.ticks_to_price(lv["price"]),
            "bid": spec.steps_to_qty(lv["bid"]),
            "ask": spec.steps_to_qty(lv["ask"]),
            "trades": lv["bid_trades"] + lv["ask_trades"],
            "price_ticks": lv["price"],
            "bid_steps": lv["bid"],
            "ask_steps": lv["ask"],
            "bid_trades": lv["bid_trades"],
            "ask_trades": lv["ask_trades"],
        }
    )


def profile_minutes(prof: MinuteProfile) -> pd.DataFrame:
    """Per-minute statistics of the profile (grid integers, `MinuteProfile.minutes`)."""
    mn = prof.minutes
    frame = pd.DataFrame({name: mn[name] for name in mn.dtype.names})
    return frame.rename(columns={"time": "minute"})


def minute_imbalance(prof: MinuteProfile) -> pd.DataFrame:
    """Taker flow per minute with trades: quote and base volume per side, counts, imbalance.

    Quote sums are ticks x steps summed over the minute's levels, floats made once, as
    `imbalance.imbalance_heatmap` makes them; imbalance = (buy - sell) / (buy + sell).
    """
    lv = prof.levels
    if len(lv) == 0:
        return _empty_imbalance()
    starts = np.flatnonzero(np.r_[True, lv["time"][1:] != lv["time"][:-1]])

    def per_minute(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, starts)

    buy_units = per_minute(lv["price"] * lv["ask"])
    sell_units = per_minute(lv["price"] * lv["bid"])
    grid = _grid(prof.spec)
    buy, sell = grid.quote(0, buy_units), grid.quote(0, sell_units)
    return pd.DataFrame(
        {
            "minute": lv["time"][starts],
            "buy_quote": buy,
            "sell_quote": sell,
            "delta_quote": buy - sell,
            "buy_volume": grid.qty(0, per_minute(lv["ask"])),
            "sell_volume": grid.qty(0, per_minute(lv["bid"])),
            "buy_trades": per_minute(lv["ask_trades"]),
            "sell_trades": per_minute(lv["bid_trades"]),
            "imbalance": imbalance_ratio(buy, sell),
        }
    )


def _empty_imbalance() -> pd.DataFrame:
    ints = ("minute", "buy_trades", "sell_trades")
    cols = ("minute", "buy_quote", "sell_quote", "delta_quote", "buy_volume", "sell_volume",
            "buy_trades", "sell_trades", "imbalance")  # fmt: skip
    return pd.DataFrame({c: np.zeros(0, np.int64 if c in ints else np.float64) for c in cols})


def orders(day: DayTrades) -> pd.DataFrame:
    """Every taker order of the day (`analytics.bigorders.taker_orders`), without ADV."""
    frame = trades_to_frame(day.records, day.spec)  # exact: the grid's decimals, rint back
    out = taker_orders(frame, specs={day.symbol: day.spec}, symbol=day.symbol)
    return out.drop(columns="symbol")


def average_daily_notional(
    summaries: Iterable[tuple[dt.date, float]], day: dt.date, days: int = ADV_DAYS
) -> tuple[float, int]:
    """(ADV, days used) for `day`: the mean taker notional of the archive days among the `days`
    calendar days before it. Days without a file are skipped, so a contract listed three days
    ago averages over three; with none, ADV is NaN and no order is big by the ADV rule."""
    first = day - dt.timedelta(days=days)
    values = [v for d, v in summaries if first <= d < day]
    if not values:
        return math.nan, 0
    return math.fsum(values) / len(values), len(values)


def big(
    day_orders: pd.DataFrame, adv: float, adv_days: int, threshold: float = DEFAULT_THRESHOLD
) -> pd.DataFrame:
    """The orders at or above `threshold` x ADV (`analytics.bigorders.big_orders`), with the ADV used."""
    frame = day_orders.assign(symbol="")
    out = big_orders(frame, adv if math.isfinite(adv) else None, threshold=threshold)
    out = out.drop(columns="symbol")
    out["adv_days"] = np.full(len(out), adv_days, np.int64)
    return out


def liquidations(day: DayTrades) -> pd.DataFrame | None:
    """Recorded liquidations (side: the position liquidated); None when the source records none
    (an empty frame: it records them, and there were none that day)."""
    liq = day.liquidations
    if liq is None:
        return None
    return pd.DataFrame(
        {
            "time": liq["timestamp"].to_numpy(np.int64),
            "side": np.where(liq["side"].to_numpy() == "SELL", "long", "short").astype(object),
            "price": liq["price"].to_numpy(np.float64),
            "qty": liq["quantity"].to_numpy(np.float64),
            "notional": liq["notional"].to_numpy(np.float64),
        }
    )
