"""The trades of a block of past minutes, forced onto their skeleton in one vectorised pass.

Per minute k of the block, with n_k aggTrades (`Skeleton.count`): times uniform within the
minute (the past's first and last minutes may be partial), exactly `buys[k]` taker buys, a price
path from the open to the close that reaches the high and the low inside the minute (a bridge
of the flow's random walk), lognormal quantities of at least one step summing to the minute's
taker-buy and taker-sell volume, and the minute's raw trades spread over its aggTrades. Every
minute of the block is drawn from one generator seeded by (seed, contract, block), so the past
is a function of the block, and the work is a few array passes per block, not per minute:
REST klines, which need every minute's exact quote volume, cost a fraction of a second per
contract-day.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipelines.standin.history import STORED_DTYPE

if TYPE_CHECKING:
    from pipelines.standin.past import Skeleton

BLOCK_MINUTES = 60
_RPI_PROB = 0.02
_QTY_SIGMA = 1.3  # lognormal spread of quantities within a minute and side


def block_trades(
    sk: Skeleton, k0: int, k1: int, times: tuple[np.ndarray, np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(STORED_DTYPE rows of skeleton minutes [k0, k1), index of each minute's first row).

    `times` holds each minute's [lo, hi) in epoch ms (the past's edges cut the first and last).
    """
    core = _BlockCore(sk, k0, k1, rng)
    if core.total == 0:
        return np.zeros(0, STORED_DTYPE), core.starts[:-1]
    total, seg, first, starts, n = core.total, core.seg, core.first, core.starts, core.n
    out = np.zeros(total, STORED_DTYPE)
    lo, hi = times
    # Times: sorted within each minute; minutes are disjoint and in order, so one sort does.
    out["time"] = np.sort(lo[seg] + (core.time_draw * (hi - lo)[seg]).astype(np.int64))
    out["buyer_maker"] = ~core.buy
    out["price"] = core.price
    out["qty"] = core.qty
    # Raw trades: the minute's extra fills fall on its aggTrades uniformly.
    extra_n = sk.fills[k0:k1] - n
    owners = np.repeat(np.arange(k1 - k0), extra_n)
    hits = starts[:-1][owners] + (rng.random(len(owners)) * n[owners]).astype(np.int64)
    extra = np.bincount(hits, minlength=total)
    raw = 1 + extra
    before = np.cumsum(raw) - raw  # raw trades before this row, since the block's start
    out["first_id"] = sk.first_raw[k0:k1][seg] + before - before[first]
    out["last_id"] = out["first_id"] + extra
    out["agg_id"] = sk.first_agg[k0:k1][seg] + core.pos
    rpi = rng.random(total) < _RPI_PROB
    out["nq"] = np.where(rpi, out["qty"] - out["qty"] // 3, out["qty"])
    return out, starts[:-1]


def block_quote_units(sk: Skeleton, k0: int, k1: int, rng: np.random.Generator) -> np.ndarray:
    """(2, minutes) sums of price x quantity (ticks x steps) of the block's trades per minute:
    all of them, and the taker buys. The same trades as `block_trades` with the same generator
    (the same draws in the same order), without their times and ids: klines need only these
    sums, and they cost half as much."""
    core = _BlockCore(sk, k0, k1, rng)
    if core.total == 0:
        return np.zeros((2, k1 - k0), np.int64)
    units = core.price * core.qty
    bounds = np.r_[core.starts[:-1], core.total]
    cum = np.r_[0, np.cumsum(units)]
    cum_buy = np.r_[0, np.cumsum(np.where(core.buy, units, 0))]
    return np.vstack([np.diff(cum[bounds]), np.diff(cum_buy[bounds])])


class _BlockCore:
    """What both forms of a block draw first: each row's minute, side, price and quantity."""

    def __init__(self, sk: Skeleton, k0: int, k1: int, rng: np.random.Generator) -> None:
        n = self.n = sk.count[k0:k1]
        starts = self.starts = np.concatenate([[0], np.cumsum(n)])
        total = self.total = int(starts[-1])
        if total == 0:
            return
        seg = self.seg = np.repeat(np.arange(k1 - k0), n)  # minute of each row, in the block
        first = self.first = starts[:-1][seg]  # row index of its minute's first row
        pos = self.pos = np.arange(total) - first  # position within the minute
        self.time_draw = rng.random(total)
        # Exactly buys[k] taker buys per minute: the lowest ranks of a random key within the
        # minute (one float sort: the minute's index plus a key in [0, 1)).
        order = np.argsort(seg + rng.random(total))
        rank = np.empty(total, np.int64)
        rank[order] = np.arange(total) - first[order]
        buy = self.buy = rank < sk.buys[k0:k1][seg]
        self.price = _prices(sk, k0, k1, seg, first, pos, n[seg], buy, rng)
        self.qty = _quantities(sk, k0, k1, seg, buy, rng)


def _prices(sk, k0, k1, seg, first, pos, size, buy, rng) -> np.ndarray:
    """From the open to the close through the high and the low, moved by the flow."""
    o, c = sk.open[k0:k1][seg], sk.close[k0:k1][seg]
    h, lo = sk.high[k0:k1][seg], sk.low[k0:k1][seg]
    step = np.where(buy, 1.0, -1.0) * rng.exponential(1.0, len(seg))
    walk = np.cumsum(step)
    walk -= (walk - step)[first]  # the walk restarts at each minute
    last = first + size - 1
    t = pos / np.maximum(size - 1, 1)
    bridge = walk - walk[first] - t * (walk[last] - walk[first])  # 0 at both ends
    starts = np.flatnonzero(pos == 0)
    which = np.cumsum(pos == 0) - 1  # index of the row's minute among the traded ones
    up = np.maximum(np.maximum.reduceat(bridge, starts), 1e-12)[which]
    down = np.maximum(-np.minimum.reduceat(bridge, starts), 1e-12)[which]
    line = o + (c - o) * t
    path = np.where(
        bridge > 0,
        line + bridge / up * np.maximum(h - line, 0),
        line + bridge / down * np.maximum(line - lo, 0),
    )
    price = np.clip(np.rint(path), lo, h).astype(np.int64)
    price[pos == 0] = o[pos == 0]
    price[pos == size - 1] = c[pos == size - 1]
    # Minutes of four trades or more reach their extremes inside the minute.
    inner = (pos > 0) & (pos < size - 1) & (size >= 4)
    for values, extreme in ((bridge, h), (-bridge, lo)):
        masked = np.where(inner, values, -np.inf)
        best = np.maximum.reduceat(masked, starts)[which]
        at = np.flatnonzero(inner & (masked == best))
        _, one = np.unique(which[at], return_index=True)  # the first such row of each minute
        price[at[one]] = extreme[at[one]]
    return price


def _quantities(sk, k0, k1, seg, buy, rng) -> np.ndarray:
    """Lognormal quantities, at least one step each, summing to each minute's taker-buy volume
    on its buys and the rest of its volume on its sells."""
    total = len(seg)
    group = seg * 2 + (~buy)  # (minute, side): 0 buys, 1 sells
    order = np.argsort(group, kind="stable")
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    counts = np.diff(np.r_[starts, total])
    keys = g[starts]
    minute, sells = keys // 2, keys % 2
    taker = sk.taker_volume[k0:k1][minute]
    amount = np.where(sells == 1, sk.volume[k0:k1][minute] - taker, taker)
    extra = amount - counts  # every trade holds one step, the rest goes by weight
    weight = rng.lognormal(0.0, _QTY_SIGMA, total)
    sums = np.add.reduceat(weight, starts)
    which = np.repeat(np.arange(len(starts)), counts)
    part = np.floor(weight / sums[which] * extra[which]).astype(np.int64)
    # The rounding remainder goes to each group's heaviest trade.
    heaviest = np.maximum.reduceat(weight, starts)
    at = np.flatnonzero(weight == heaviest[which])
    _, one = np.unique(which[at], return_index=True)
    part[at[one]] += extra - np.add.reduceat(part, starts)
    qty = np.empty(total, np.int64)
    qty[order] = 1 + part
    return qty
