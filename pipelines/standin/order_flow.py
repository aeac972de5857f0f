"""The order flow's statistics: how many orders, how big, and how far they walk the book.

Pure functions and constants shared by the live generation (`market.Market`) and its
calibration: order notionals, the levels an order walks through the thickening book, and the
touch depth that makes the flow move prices as much as the contract's daily volatility.
"""

from __future__ import annotations

import numpy as np

ETA = 0.7  # Hawkes branching ratio: share of trades triggered by earlier trades
TAU_S = 3.0  # decay of the excitation
SHOCK_RATE_PER_S = 1 / 60  # market-wide bursts (cascades)
SHOCK_SHARE = 0.15  # share of all trades that shocks account for on average
SIZE_SIGMA = 1.3  # lognormal sigma of order notionals
TAIL_PROB, TAIL_ALPHA = 0.03, 1.3  # Pareto tail of order sizes
# Book: a level holds at least MIN_DEPTH_MEDIANS median orders, more where the flow would
# otherwise move the price faster than the contract's daily volatility.
MIN_DEPTH_MEDIANS = 50.0
# Level j behind the touch holds (1 + DEPTH_GROWTH * j) times the touch's depth, as real books
# thicken away from the touch: the impact of an order grows like the square root of its size.
DEPTH_GROWTH = 0.05
MAX_SWEEP_LEVELS = 1000  # an order walks at most this many levels; hidden liquidity fills the rest
# Taker side: buy with probability logistic(imbalance), an AR(1) per step that drifts over
# ~5 s. The resting liquidity leans too (quotes pulled or replenished on one side), an
# independent AR(1) of the same kind moving the book by REST_LEAN times what the flow would:
# tuned so 10 s flow share vs price change correlates like the real captures (about 0.5).
IMBALANCE_AR, IMBALANCE_SD = 0.99, 0.09
REST_LEAN = 1.6
# Rare orders sized off the contract's daily turnover, what the screener exists to catch.
WHALES_PER_S = 1 / 8  # across the whole market; not part of the synthetic daily history
WHALE_ADV_SHARE = (0.004, 0.02)  # 0.4 % to 2 % of the contract's daily notional
LIQUIDATION_PROB = 0.0015  # per order at the mean rate; scales with the burst intensity
RPI_PROB = 0.02  # share of aggTrades with RPI fills (nq < q)


def activity_weights(n: int) -> np.ndarray:
    """BTC ~15 %, ETH ~10 %, the rest Zipf-distributed below them."""
    if n == 1:
        return np.ones(1)
    head = np.array([0.15, 0.10])[: min(n, 2)]
    rest = 1.0 / np.arange(4, n - len(head) + 4) ** 1.1
    rest = rest / rest.sum() * (1.0 - head.sum()) if len(rest) else rest
    w = np.concatenate([head, rest])
    return w / w.sum()


def order_notional(
    normal: np.ndarray,
    uniform: np.ndarray,
    pareto: np.ndarray,
    median: np.ndarray,
    whale: np.ndarray | None = None,
) -> np.ndarray:
    """Order notionals (USD): lognormal with a Pareto tail; `whale` (USD, 0 for ordinary
    orders) overrides the drawn notional of the rare big ones."""
    notional = median * np.exp(SIZE_SIGMA * normal)
    notional = np.where(uniform < TAIL_PROB, notional * (1.0 + pareto), notional)
    notional = np.minimum(notional, median * 1e5)
    if whale is not None:
        notional = np.where(whale > 0, whale, notional)
    return notional


def walk_levels(units: np.ndarray) -> np.ndarray:
    """Levels an order of `units` touch-depths walks through the thickening book: the x with
    x + DEPTH_GROWTH * x**2 / 2 = units, at most MAX_SWEEP_LEVELS - 1."""
    x = (np.sqrt(1.0 + 2.0 * DEPTH_GROWTH * units) - 1.0) / DEPTH_GROWTH
    return np.minimum(x, MAX_SWEEP_LEVELS - 1)


def lean_share(state: np.ndarray) -> np.ndarray:
    """Expected net share (buy minus sell) of an imbalance or lean state."""
    return np.tanh(state / 2.0)


def book_depth(
    notional_in_medians: np.ndarray,
    orders_per_step: np.ndarray,
    whales_per_step: np.ndarray,
    step_var: np.ndarray,
    steps_per_day: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Touch depth (in median orders) per contract at which the price varies by `step_var`
    levels² per step in the long run, and the mean walk of an order at that depth.

    Long-run variance per step: the iid part n E[w²] plus the persistent part of the drifting
    imbalance and lean, n² E[w]² Var(share) (1 + φ) / (1 - φ) (1 + REST_LEAN²), plus whales.
    """
    grid = np.geomspace(MIN_DEPTH_MEDIANS, 1e9, 400)
    walk = walk_levels(notional_in_medians[None, :] / grid[:, None])
    mean, second = walk.mean(axis=1), (walk**2).mean(axis=1)
    states = np.random.default_rng(0).standard_normal(20_000) * IMBALANCE_SD
    share_var = float(lean_share(states / np.sqrt(1 - IMBALANCE_AR**2)).var())
    persist = share_var * (1 + IMBALANCE_AR) / (1 - IMBALANCE_AR) * (1 + REST_LEAN**2)
    n = orders_per_step[:, None]
    var = n * second[None, :] + n**2 * mean[None, :] ** 2 * persist  # decreasing in the depth
    whale_share = np.linspace(*WHALE_ADV_SHARE, 5)
    day_medians = orders_per_step * steps_per_day * notional_in_medians.mean()
    for share in whale_share:
        whale = walk_levels((day_medians * share)[:, None] / grid[None, :])
        var += whales_per_step[:, None] * whale**2 / len(whale_share)
    pick = np.array([np.interp(-v, -row, grid) for v, row in zip(step_var, var, strict=True)])
    return pick, np.interp(pick, grid, mean)


def segment_exclusive_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-segment exclusive running sum; segments are consecutive runs of `counts` rows."""
    total = np.cumsum(values)
    seg_start = np.cumsum(counts) - counts
    before = np.where(seg_start > 0, total[np.maximum(seg_start - 1, 0)], 0)
    return total - values - np.repeat(before, counts)
