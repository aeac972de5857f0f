"""Plain-Python reference computations, written independently of the code under test."""

from __future__ import annotations

from collections import defaultdict


def naive_footprint(trades, tf_ms, bin_ticks, ratio, min_steps, stack_n=3):
    """Footprint of (time, price_ticks, qty_steps, taker_sold) tuples given in trade order.

    Returns (levels, bars): levels maps (bar_time, level) -> dict, bars maps bar_time -> dict,
    all in integer grid units.
    """
    cells = defaultdict(lambda: {"bid": 0, "ask": 0, "bid_n": 0, "ask_n": 0})
    bars = {}
    for time, price, qty, sold in trades:
        bar_time = (time // tf_ms) * tf_ms
        level = price // bin_ticks
        cell = cells[(bar_time, level)]
        if bar_time not in bars:
            bars[bar_time] = {"open": price, "high": price, "low": price, "buy": 0, "sell": 0,
                              "trades": 0, "deltas": []}  # fmt: skip
        bar = bars[bar_time]
        if sold:
            cell["bid"] += qty
            cell["bid_n"] += 1
            bar["sell"] += qty
        else:
            cell["ask"] += qty
            cell["ask_n"] += 1
            bar["buy"] += qty
        bar["trades"] += 1
        bar["close"] = price
        bar["high"] = max(bar["high"], price)
        bar["low"] = min(bar["low"], price)
        bar["deltas"].append(bar["buy"] - bar["sell"])

    def vol(bar_time, level):
        c = cells.get((bar_time, level))
        return 0 if c is None else c["bid"] + c["ask"]

    cvd = 0
    for bar_time in sorted(bars):
        bar = bars[bar_time]
        levels = sorted(level for (b, level) in cells if b == bar_time)
        lowest, highest = levels[0], levels[-1]
        most = max(vol(bar_time, lv) for lv in levels)
        poc = min(lv for lv in levels if vol(bar_time, lv) == most)
        total = sum(vol(bar_time, lv) for lv in levels)
        low = high = poc
        inside = most
        while inside < 0.7 * total - 1e-9 and not (low == lowest and high == highest):
            below = vol(bar_time, low - 1) if low > lowest else None
            above = vol(bar_time, high + 1) if high < highest else None
            if above is None or (below is not None and below >= above):
                low -= 1
                inside += below
            else:
                high += 1
                inside += above
        bar.update(poc=poc, va_low=low, va_high=high, max_delta=max(bar["deltas"]),
                   min_delta=min(bar["deltas"]))  # fmt: skip
        cvd += bar["buy"] - bar["sell"]
        bar["cvd"] = cvd

    def cell_of(bar_time, level):
        return cells.get((bar_time, level), {"bid": 0, "ask": 0, "bid_n": 0, "ask_n": 0})

    out = {}
    for (bar_time, level), c in cells.items():
        buy = (
            c["ask"] >= max(min_steps, 1)
            and c["ask"] >= ratio * cell_of(bar_time, level - 1)["bid"]
        )
        sell = (
            c["bid"] >= max(min_steps, 1)
            and c["bid"] >= ratio * cell_of(bar_time, level + 1)["ask"]
        )
        out[(bar_time, level)] = dict(c, buy_imb=buy, sell_imb=sell)

    def run_length(bar_time, level, key):
        if not out.get((bar_time, level), {}).get(key):
            return 0
        n, lv = 1, level - 1
        while out.get((bar_time, lv), {}).get(key):
            n, lv = n + 1, lv - 1
        lv = level + 1
        while out.get((bar_time, lv), {}).get(key):
            n, lv = n + 1, lv + 1
        return n

    for (bar_time, level), row in out.items():
        row["stacked_buy"] = run_length(bar_time, level, "buy_imb") >= stack_n
        row["stacked_sell"] = run_length(bar_time, level, "sell_imb") >= stack_n
    return out, bars


def naive_taker_orders(rows):
    """Runs of (symbol, agg_id, time, price_ticks, qty_steps, taker_sold, n_trades) rows given
    in trade order per symbol. Returns a list of dicts in integer units."""
    orders = []
    current = None
    for sym, agg, time, price, qty, sold, n_trades in rows:
        same = (
            current is not None
            and current["sym"] == sym
            and current["time"] == time
            and current["sold"] == sold
            and current["last_agg"] + 1 == agg
        )
        if not same:
            current = {"sym": sym, "time": time, "sold": sold, "first_agg": agg, "qty": 0,
                       "quote": 0, "fills": 0, "trades": 0, "first_price": price}  # fmt: skip
            orders.append(current)
        current["last_agg"] = agg
        current["last_price"] = price
        current["qty"] += qty
        current["quote"] += price * qty
        current["fills"] += 1
        current["trades"] += n_trades
    return orders
