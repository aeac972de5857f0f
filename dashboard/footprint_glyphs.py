"""Footprint geometry: footprint frames (pipelines.analytics.footprint) to the columns of Bokeh glyphs.

Pure functions, no Panel: each returns a dict of equal-length numpy arrays for one
ColumnDataSource. Layout of a bar of length `tf` opening at `t` (x in epoch ms):

    t ........ c - gap - w·bid   c - gap | candle |  c + gap   c + gap + w·ask ........ t + tf

taker sells (bid volume) grow left from the candle, taker buys (ask volume) right; `w` is at
most `SIDE_WIDTH` of the bar and proportional to the level's volume over the chart's scale.
A level spans [price, price + bin) on the y axis.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.theme import BUY, NEUTRAL, SELL

MODES = ("bid × ask", "delta", "volume")
CENTRE_GAP = 0.07  # half-gap around the candle, share of the bar
SIDE_WIDTH = 0.40  # longest side bar, share of the bar
BODY_HALF = 0.035
PAD = 0.06  # vertical padding inside a level, share of the bin
BUY_DIM = "#1f7a52"
SELL_DIM = "#8a2e2e"
WICK = "#b0b0b0"

# Glyph colours are indices into INKS, not colour strings: numbers travel to the browser as
# binary arrays, and HoloViews validates every colour string of a redrawn glyph one by one
# (a third of a day view's redraw). The chart maps them back with a fixed colour map.
INKS = (SELL, SELL_DIM, BUY_DIM, BUY, NEUTRAL, WICK)
SELL_INK, SELL_DIM_INK, BUY_DIM_INK, BUY_INK, NEUTRAL_INK, WICK_INK = (
    float(i) for i in range(len(INKS))
)


def volume_scale(levels: pd.DataFrame, mode: str) -> float:
    """The volume that fills a side bar: a high quantile, so one outlier does not flatten all."""
    if len(levels) == 0:
        return 1.0
    bid = levels["bid_volume"].to_numpy()
    ask = levels["ask_volume"].to_numpy()
    if mode == "delta":
        values = np.abs(ask - bid)
    elif mode == "volume":
        values = ask + bid
    else:
        values = np.maximum(ask, bid)
    top = float(np.quantile(values, 0.98)) if len(values) else 0.0
    return top if top > 0 else max(float(values.max()), 1e-12)


def compact(values: np.ndarray) -> list[str]:
    """Quantities as short cell text: 1.23M, 12.3K, 123, 12.3, 1.23, 0.123."""
    out = []
    for v in np.asarray(values, dtype=np.float64):
        a = abs(v)
        if a >= 1e6:
            s = f"{v / 1e6:.2f}M"
        elif a >= 1e4:
            s = f"{v / 1e3:.0f}K"
        elif a >= 1e3:
            s = f"{v / 1e3:.1f}K"
        elif a >= 100:
            s = f"{v:.0f}"
        elif a >= 10:
            s = f"{v:.1f}"
        elif a >= 1:
            s = f"{v:.2f}"
        elif a == 0:
            s = "0"
        else:
            s = f"{v:.3g}"
        out.append(s)
    return out


def cell_columns(
    levels: pd.DataFrame, tf_ms: int, level_size: float, scale: float, mode: str
) -> dict[str, np.ndarray]:
    """Quads of the level bars (two per level in bid × ask mode, one otherwise)."""
    t = levels["bar_time"].to_numpy(dtype=np.float64)
    price = levels["price"].to_numpy(dtype=np.float64)
    bid = levels["bid_volume"].to_numpy(dtype=np.float64)
    ask = levels["ask_volume"].to_numpy(dtype=np.float64)
    buy_imb = levels["buy_imbalance"].to_numpy(dtype=bool)
    sell_imb = levels["sell_imbalance"].to_numpy(dtype=bool)
    centre = t + tf_ms / 2.0
    gap = CENTRE_GAP * tf_ms
    full = SIDE_WIDTH * tf_ms
    bottom = price + PAD * level_size
    top = price + (1.0 - PAD) * level_size

    def width(v: np.ndarray) -> np.ndarray:
        return np.clip(v / scale, 0.0, 1.0) * full

    def alpha(v: np.ndarray) -> np.ndarray:
        return 0.35 + 0.55 * np.clip(v / scale, 0.0, 1.0)

    if mode == "bid × ask":
        left = np.r_[centre - gap - width(bid), centre + gap]
        right = np.r_[centre - gap, centre + gap + width(ask)]
        colour = np.r_[
            np.where(sell_imb, SELL_INK, SELL_DIM_INK), np.where(buy_imb, BUY_INK, BUY_DIM_INK)
        ]
        fill_alpha = np.r_[np.where(sell_imb, 1.0, alpha(bid)), np.where(buy_imb, 1.0, alpha(ask))]
        keep = np.r_[bid > 0, ask > 0]
        return _rows(
            keep,
            left=left,
            right=right,
            bottom=np.r_[bottom, bottom],
            top=np.r_[top, top],
            color=colour,
            alpha=fill_alpha,
            bar_time=np.r_[t, t],
            price=np.r_[price, price],
            bid=np.r_[bid, bid],
            ask=np.r_[ask, ask],
            delta=np.r_[ask - bid, ask - bid],
        )
    if mode == "delta":
        delta = ask - bid
        w = width(np.abs(delta))
        left = np.where(delta >= 0, centre + gap, centre - gap - w)
        right = np.where(delta >= 0, centre + gap + w, centre - gap)
        imbalanced = np.where(delta >= 0, buy_imb, sell_imb)
        colour = np.where(
            delta >= 0,
            np.where(imbalanced, BUY_INK, BUY_DIM_INK),
            np.where(imbalanced, SELL_INK, SELL_DIM_INK),
        )
        fill_alpha = np.where(imbalanced, 1.0, alpha(np.abs(delta)))
    else:
        total = ask + bid
        left = centre + gap
        right = centre + gap + width(total)
        colour = np.where(ask >= bid, BUY_DIM_INK, SELL_DIM_INK)
        fill_alpha = alpha(total)
    return _rows(
        np.ones(len(levels), dtype=bool),
        left=left,
        right=right,
        bottom=bottom,
        top=top,
        color=colour,
        alpha=fill_alpha,
        bar_time=t,
        price=price,
        bid=bid,
        ask=ask,
        delta=ask - bid,
    )


def label_columns(
    levels: pd.DataFrame, tf_ms: int, level_size: float, mode: str
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Cell numbers: (right-aligned texts left of the candle, left-aligned texts right of it)."""
    t = levels["bar_time"].to_numpy(dtype=np.float64)
    y = levels["price"].to_numpy(dtype=np.float64) + level_size / 2.0
    bid = levels["bid_volume"].to_numpy(dtype=np.float64)
    ask = levels["ask_volume"].to_numpy(dtype=np.float64)
    centre = t + tf_ms / 2.0
    inner = (CENTRE_GAP + 0.02) * tf_ms
    if mode == "bid × ask":
        left = {"x": centre - inner, "y": y, "text": np.array(compact(bid), dtype=object)}
        right = {"x": centre + inner, "y": y, "text": np.array(compact(ask), dtype=object)}
        return left, right
    values = ask - bid if mode == "delta" else ask + bid
    empty = {"x": np.zeros(0), "y": np.zeros(0), "text": np.zeros(0, dtype=object)}
    return empty, {"x": centre + inner, "y": y, "text": np.array(compact(values), dtype=object)}


def candle_columns(bars: pd.DataFrame, tf_ms: int, level_size: float) -> dict[str, np.ndarray]:
    """Wick (x, low..high + one level so it covers the top level) and body (open..close)."""
    t = bars["bar_time"].to_numpy(dtype=np.float64)
    o = bars["open"].to_numpy(dtype=np.float64)
    c = bars["close"].to_numpy(dtype=np.float64)
    up = c >= o
    centre = t + tf_ms / 2.0
    return {
        "x": centre,
        "low": bars["low"].to_numpy(dtype=np.float64),
        "high": bars["high"].to_numpy(dtype=np.float64),
        "left": centre - BODY_HALF * tf_ms,
        "right": centre + BODY_HALF * tf_ms,
        "bottom": np.minimum(o, c),
        "top": np.maximum(o, c) + np.where(o == c, level_size * 0.05, 0.0),
        "color": np.where(up, BUY_INK, SELL_INK),
        "bar_time": t,
        "open": o,
        "close": c,
    }


def profile_columns(bars: pd.DataFrame, tf_ms: int, level_size: float) -> dict[str, np.ndarray]:
    """POC outline (a box around the level) and value area (a line along the bar's left edge)."""
    t = bars["bar_time"].to_numpy(dtype=np.float64)
    poc = bars["poc"].to_numpy(dtype=np.float64)
    return {
        "poc_left": t + 0.06 * tf_ms,
        "poc_right": t + 0.94 * tf_ms,
        "poc_bottom": poc,
        "poc_top": poc + level_size,
        "va_x": t + 0.05 * tf_ms,
        "va_low": bars["value_area_low"].to_numpy(dtype=np.float64),
        "va_high": bars["value_area_high"].to_numpy(dtype=np.float64) + level_size,
    }


def stacked_columns(levels: pd.DataFrame, tf_ms: int, level_size: float) -> dict[str, np.ndarray]:
    """A bright bar on the outer edge of every level in a stacked imbalance run."""
    buy = levels["stacked_buy"].to_numpy(dtype=bool)
    sell = levels["stacked_sell"].to_numpy(dtype=bool)
    t = levels["bar_time"].to_numpy(dtype=np.float64)
    price = levels["price"].to_numpy(dtype=np.float64)
    centre = t + tf_ms / 2.0
    edge = (CENTRE_GAP + SIDE_WIDTH + 0.015) * tf_ms
    x = np.r_[centre[sell] - edge, centre[buy] + edge]
    return {
        "x": x,
        "bottom": np.r_[price[sell], price[buy]],
        "top": np.r_[price[sell], price[buy]] + level_size,
        "color": np.r_[np.full(sell.sum(), SELL_INK), np.full(buy.sum(), BUY_INK)],
    }


def stats_columns(bars: pd.DataFrame, tf_ms: int) -> dict[str, np.ndarray]:
    """Per-bar volume, delta and trades as text rows 2, 1, 0 of the statistics strip."""
    t = bars["bar_time"].to_numpy(dtype=np.float64) + tf_ms / 2.0
    delta = bars["delta"].to_numpy(dtype=np.float64)
    n = len(bars)
    return {
        "x": np.r_[t, t, t],
        "y": np.r_[np.full(n, 2.0), np.full(n, 1.0), np.full(n, 0.0)],
        "text": np.array(
            compact(bars["volume"].to_numpy())
            + compact(delta)
            + [f"{int(v):,}" for v in bars["trades"].to_numpy()],
            dtype=object,
        ),
        "color": np.r_[
            np.full(n, "#c8c8c8"), np.where(delta >= 0, BUY, SELL), np.full(n, "#9a9a9a")
        ].astype(object),
    }


def cvd_columns(bars: pd.DataFrame, tf_ms: int, offset: float = 0.0) -> dict[str, np.ndarray]:
    """Cumulative delta at each bar's close, starting from `offset` at the first bar's open."""
    t = bars["bar_time"].to_numpy(dtype=np.float64)
    cvd = offset + np.cumsum(bars["delta"].to_numpy(dtype=np.float64))
    if len(t) == 0:
        return {"x": np.zeros(0), "y": np.zeros(0)}
    return {"x": np.r_[t[0], t + tf_ms], "y": np.r_[offset, cvd]}


def _rows(keep: np.ndarray, **columns: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[keep] for k, v in columns.items()}
