"""Compiled kernels of the footprint and the minute profile: dense (bar, level) sums.

Both paths, from trades and from minute profiles, produce the same cell matrix (one row per bar
and level: bid, ask, bid trades, ask trades) and bar-statistics matrix (columns `_OPEN`..),
which `_finish` turns into level rows with imbalance flags and each bar's POC and value area.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from pipelines.analytics.tradeframe import TradeColumns, in_trade_order

_BIG = np.iinfo(np.int64).max


# Columns of the cell matrix (one row per bar and level) and of the bar-statistics matrix.
_BID, _ASK, _BID_N, _ASK_N = 0, 1, 2, 3
_LEVEL_CELL_FIELDS = ("bid", "ask", "bid_trades", "ask_trades")
_OPEN, _HIGH, _LOW, _CLOSE, _BUY, _SELL, _TRADES, _MAXD, _MIND, _FIRST, _LAST = range(11)
_N_STATS = 11
_MINUTE_STAT_FIELDS = (
    "open", "high", "low", "close", "buy", "sell", "trades", "max_delta", "min_delta",
    "first_agg_id", "last_agg_id",
)  # fmt: skip


@njit(cache=True)
def _level_ranges(lo_ticks, hi_ticks, bin_ticks):
    """Per-bar level range from per-bar tick extremes, and each bar's first cell row."""
    nb = lo_ticks.shape[0]
    lo = np.empty(nb, np.int64)
    off = np.zeros(nb + 1, np.int64)
    for j in range(nb):
        span = 0
        lo[j] = 0
        if hi_ticks[j] >= lo_ticks[j]:
            lo[j] = lo_ticks[j] // bin_ticks
            span = hi_ticks[j] // bin_ticks - lo[j] + 1
        off[j + 1] = off[j] + span
    return lo, off


@njit(cache=True)
def _trade_cells(time, price, qty, buyer_maker, agg, tf, bin_ticks):
    """Dense (bar, level) sums of trades in trade order: two passes, no sort, no branch on side.

    Each bar gets a dense run of cells spanning its own lowest to highest level, so the grid
    stays small however long the range is. The first pass also checks the trade order (time,
    then aggTrade id) and gives up at once, returning False, when it is broken: checking here
    costs nothing, a separate check is a pass of its own.
    """
    n = time.shape[0]
    b0 = time[0] // tf
    t_last = time[n - 1]
    nb = max(t_last // tf - b0 + 1, 0)  # < 0 only when out of order, caught below
    lo_t = np.full(nb, _BIG, np.int64)
    hi_t = np.full(nb, -_BIG, np.int64)
    bar_end = time[0] - 1  # forces the first bar lookup
    b = 0
    cur_lo = _BIG
    cur_hi = -_BIG
    prev_t = time[0]
    prev_a = agg[0]
    for i in range(n):
        t = time[i]
        a = agg[i]
        if t < prev_t or (t == prev_t and a < prev_a) or t > t_last:
            empty = np.zeros((0, 4), np.int64)
            return False, b0, lo_t, lo_t, empty, np.zeros((0, _N_STATS), np.int64), 0
        prev_t = t
        prev_a = a
        if t >= bar_end:
            if i > 0:
                lo_t[b] = cur_lo
                hi_t[b] = cur_hi
            b = t // tf - b0
            bar_end = (b + b0 + 1) * tf
            cur_lo = _BIG
            cur_hi = -_BIG
        p = price[i]
        cur_lo = min(cur_lo, p)
        cur_hi = max(cur_hi, p)
    lo_t[b] = cur_lo
    hi_t[b] = cur_hi
    lo, off = _level_ranges(lo_t, hi_t, bin_ticks)
    cells = np.zeros((off[nb], 4), np.int64)
    bars = np.zeros((nb, _N_STATS), np.int64)
    inv = 1.0 / bin_ticks
    n_traded = 0
    bar_end = time[0] - 1
    b = -1
    base = 0
    o = hh = ll = cl = vol = sell = cnt = run = mx = mn = a0 = a1 = 0
    for i in range(n):
        t = time[i]
        p = price[i]
        q = qty[i]
        if t >= bar_end:
            if b >= 0:
                _store_bar(bars, b, o, hh, ll, cl, vol, sell, cnt, mx, mn, a0, a1)
            b = t // tf - b0
            bar_end = (b + b0 + 1) * tf
            base = off[b] - lo[b]
            o = hh = ll = p
            a0 = agg[i]
            vol = sell = cnt = run = 0
            mx = -_BIG
            mn = _BIG
        # floor(p / bin) by a multiply and a correction: an integer division per trade
        # would cost more than the rest of the loop body.
        lvl = p
        if bin_ticks != 1:
            lvl = np.int64(p * inv)
            if lvl * bin_ticks > p:
                lvl -= 1
            elif (lvl + 1) * bin_ticks <= p:
                lvl += 1
        c = base + lvl
        if cells[c, _BID_N] + cells[c, _ASK_N] == 0:
            n_traded += 1
        s = np.int64(buyer_maker[i])  # 1: taker sold -> bid column 0
        cells[c, 1 - s] += q
        cells[c, 3 - s] += 1
        sell += q * s
        vol += q
        run += q - 2 * q * s
        cnt += 1
        cl = p
        a1 = agg[i]  # trade order: the last trade of the bar has its highest id
        hh = max(hh, p)
        ll = min(ll, p)
        mx = max(mx, run)
        mn = min(mn, run)
    _store_bar(bars, b, o, hh, ll, cl, vol, sell, cnt, mx, mn, a0, a1)
    return True, b0, lo, off, cells, bars, n_traded


@njit(cache=True, inline="always")
def _store_bar(bars, b, o, hh, ll, cl, vol, sell, cnt, mx, mn, a0, a1):
    bars[b, _OPEN] = o
    bars[b, _HIGH] = hh
    bars[b, _LOW] = ll
    bars[b, _CLOSE] = cl
    bars[b, _BUY] = vol - sell
    bars[b, _SELL] = sell
    bars[b, _TRADES] = cnt
    bars[b, _MAXD] = mx
    bars[b, _MIND] = mn
    bars[b, _FIRST] = a0
    bars[b, _LAST] = a1


@njit(cache=True)
def _profile_cells(l_time, l_price, l_cells, m_time, m_stats, tf, bin_ticks):
    """The same cells and bar statistics as `_trade_cells`, from minute-profile rows."""
    n = l_time.shape[0]
    nm = m_time.shape[0]
    b0 = m_time[0] // tf
    nb = m_time[nm - 1] // tf - b0 + 1
    lo_t = np.full(nb, _BIG, np.int64)
    hi_t = np.full(nb, -_BIG, np.int64)
    for i in range(n):
        b = l_time[i] // tf - b0
        lo_t[b] = min(lo_t[b], l_price[i])
        hi_t[b] = max(hi_t[b], l_price[i])
    lo, off = _level_ranges(lo_t, hi_t, bin_ticks)
    cells = np.zeros((off[nb], 4), np.int64)
    n_traded = 0
    for i in range(n):
        b = l_time[i] // tf - b0
        c = off[b] + l_price[i] // bin_ticks - lo[b]
        if cells[c, _BID_N] + cells[c, _ASK_N] == 0 and l_cells[i, _BID_N] + l_cells[i, _ASK_N] > 0:
            n_traded += 1
        for k in range(4):
            cells[c, k] += l_cells[i, k]
    bars = np.zeros((nb, _N_STATS), np.int64)
    b_prev = -1
    for i in range(nm):
        b = m_time[i] // tf - b0
        if b != b_prev:
            b_prev = b
            bars[b, _OPEN] = m_stats[i, _OPEN]
            bars[b, _HIGH] = m_stats[i, _HIGH]
            bars[b, _LOW] = m_stats[i, _LOW]
            bars[b, _MAXD] = -_BIG
            bars[b, _MIND] = _BIG
            bars[b, _FIRST] = m_stats[i, _FIRST]
        # The bar's delta before this minute shifts the minute's own running-delta extremes.
        before = bars[b, _BUY] - bars[b, _SELL]
        bars[b, _MAXD] = max(bars[b, _MAXD], before + m_stats[i, _MAXD])
        bars[b, _MIND] = min(bars[b, _MIND], before + m_stats[i, _MIND])
        bars[b, _CLOSE] = m_stats[i, _CLOSE]
        bars[b, _LAST] = m_stats[i, _LAST]
        bars[b, _HIGH] = max(bars[b, _HIGH], m_stats[i, _HIGH])
        bars[b, _LOW] = min(bars[b, _LOW], m_stats[i, _LOW])
        for k in (_BUY, _SELL, _TRADES):
            bars[b, k] += m_stats[i, k]
    return b0, lo, off, cells, bars, n_traded


@njit(cache=True)
def _finish(b0, lo, off, cells, bars, n_traded, tf, ratio, min_steps, stack_n, va_num, va_den):
    """Traded cells as level rows with imbalance flags, and each bar's POC and value area."""
    nb = lo.shape[0]
    lv_time = np.empty(n_traded, np.int64)
    lv_level = np.empty(n_traded, np.int64)
    lv_cells = np.empty((n_traded, 4), np.int64)
    flags = np.zeros((n_traded, 4), np.bool_)  # buy_imb, sell_imb, stacked_buy, stacked_sell
    n_bars = 0
    for b in range(nb):
        if bars[b, _TRADES] > 0:
            n_bars += 1
    bar_idx = np.empty(n_bars, np.int64)
    profile = np.empty((n_bars, 3), np.int64)  # poc, value-area low, value-area high (levels)
    k = 0
    r = 0
    for b in range(nb):
        if bars[b, _TRADES] == 0:
            continue
        start = off[b]
        span = off[b + 1] - start
        total = 0
        best = -1
        best_j = 0
        for j in range(span):
            v = cells[start + j, _BID] + cells[start + j, _ASK]
            total += v
            if v > best:  # strict: a tie keeps the lower level
                best = v
                best_j = j
        a = best_j
        z = best_j
        acc = best
        while acc * va_den < total * va_num:
            below = -1
            if a > 0:
                below = cells[start + a - 1, _BID] + cells[start + a - 1, _ASK]
            above = -1
            if z < span - 1:
                above = cells[start + z + 1, _BID] + cells[start + z + 1, _ASK]
            if below >= above:  # a tie adds the lower level
                a -= 1
                acc += below
            else:
                z += 1
                acc += above
        bar_idx[r] = b
        profile[r, 0] = lo[b] + best_j
        profile[r, 1] = lo[b] + a
        profile[r, 2] = lo[b] + z
        r += 1
        run_b = 0
        run_s = 0
        for j in range(span):
            c = start + j
            traded = cells[c, _BID_N] + cells[c, _ASK_N] > 0
            bi = False
            si = False
            if traded:
                bid_below = cells[c - 1, _BID] if j > 0 else 0
                ask_above = cells[c + 1, _ASK] if j < span - 1 else 0
                bi = cells[c, _ASK] >= min_steps and cells[c, _ASK] >= ratio * bid_below
                si = cells[c, _BID] >= min_steps and cells[c, _BID] >= ratio * ask_above
            # A run ends at the first level that is not imbalanced on its side.
            if not bi and run_b >= stack_n:
                flags[k - run_b : k, 2] = True
            if not si and run_s >= stack_n:
                flags[k - run_s : k, 3] = True
            run_b = run_b + 1 if bi else 0
            run_s = run_s + 1 if si else 0
            if traded:
                lv_time[k] = (b0 + b) * tf
                lv_level[k] = lo[b] + j
                lv_cells[k] = cells[c]
                flags[k, 0] = bi
                flags[k, 1] = si
                k += 1
        if run_b >= stack_n:
            flags[k - run_b : k, 2] = True
        if run_s >= stack_n:
            flags[k - run_s : k, 3] = True
    return lv_time, lv_level, lv_cells, flags, bar_idx, profile


def _cells_in_trade_order(records: np.ndarray | TradeColumns, tf_ms: int, bin_ticks: int) -> tuple:
    """Kernel sums of one contract's records, sorted into trade order first if they are not."""
    for attempt in range(2):
        ordered, *cells = _trade_cells(
            records["time"],
            records["price"],
            records["qty"],
            records["buyer_maker"],
            records["agg_id"],
            tf_ms,
            bin_ticks,
        )
        if ordered:
            return tuple(cells)
        if attempt == 0:
            records = in_trade_order(records)
    raise AssertionError("records still out of trade order after sorting")
