"""Footprint re-aggregation of 1,000,000 trades to a new bin/timeframe, against pandas.

    python benchmarks/bench_footprint.py [--trades 1000000] [--repeat 7]

The trades are a synthetic BTCUSDT-like tape already on the integer grid (about 30 trades/s, so
~9 h): a random walk in ticks, geometric quantities, random sides. For each (bin, timeframe) the
footprint (levels with imbalance flags, and bars with OHLC, POC, value area, delta extremes,
CVD) is rebuilt from the raw trades by `footprint_from_records`, after one JIT warm-up call.
The baseline, in the same run, is a plain pandas groupby that computes the levels alone (volume
and count per bar, level and side) from the same integer columns. Medians of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from pipelines.analytics.footprint import TIMEFRAMES_MS, FootprintRules, footprint_from_records
from pipelines.binance.contracts import ContractSpec
from pipelines.records.dtypes import TRADE_DTYPE

SPEC = ContractSpec("BTCUSDT", "0.10", "0.001")
VIEWS = (("1m", 1), ("1m", 10), ("5m", 25), ("15m", 50), ("1h", 100))


def synthetic_tape(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros(n, TRADE_DTYPE)
    out["agg_id"] = np.arange(n)
    out["time"] = 1_723_161_240_000 + np.cumsum(rng.exponential(33.0, n)).astype(np.int64)
    out["price"] = 600_000 + np.cumsum(rng.integers(-3, 4, n))
    out["qty"] = rng.geometric(0.02, n)
    out["buyer_maker"] = rng.random(n) < 0.5
    return out


def pandas_levels(frame: pd.DataFrame, tf_ms: int, bin_ticks: int) -> pd.DataFrame:
    """Levels alone: taker volume and count per (bar, level, side), sides as columns."""
    keys = [frame["time"] // tf_ms * tf_ms, frame["price"] // bin_ticks, frame["buyer_maker"]]
    sums = frame.groupby(keys)["qty"].agg(["sum", "count"])
    return sums.unstack("buyer_maker", fill_value=0)


def median_ms(fn: Callable[[], object], repeat: int, stat: str = "median") -> float:
    """Median (or best, on a machine shared with other load) of `repeat` calls, in ms."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) if stat == "median" else np.min(times)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--stat", choices=("median", "min"), default="median")
    args = parser.parse_args()

    tape = synthetic_tape(args.trades)
    frame = pd.DataFrame({k: tape[k] for k in ("time", "price", "qty", "buyer_maker")})
    hours = (tape["time"][-1] - tape["time"][0]) / 3.6e6
    print(f"{args.trades:,} trades over {hours:.1f} h; {args.stat} of {args.repeat} runs each")
    print(
        f"{'view':>10} {'levels':>8} {'bars':>5} {'footprint':>11} {'pandas levels':>14} {'ratio':>6}"
    )
    worst = 0.0
    ratios = []
    for timeframe, bin_ticks in VIEWS:
        rules = FootprintRules.make(SPEC, price_bin_ticks=bin_ticks, timeframe=timeframe)
        footprint = footprint_from_records(tape, SPEC, rules)  # JIT warm-up (cached after)
        ours = median_ms(
            lambda r=rules: footprint_from_records(tape, SPEC, r), args.repeat, args.stat
        )
        tf_ms = TIMEFRAMES_MS[timeframe]
        base = median_ms(
            lambda t=tf_ms, b=bin_ticks: pandas_levels(frame, t, b), args.repeat, args.stat
        )
        worst = max(worst, ours)
        ratios.append(base / ours)
        view = f"{timeframe}/{bin_ticks}t"
        print(
            f"{view:>10} {len(footprint.levels):>8,} {len(footprint.bars):>5} "
            f"{ours:>8.1f} ms {base:>11.1f} ms {base / ours:>5.1f}x"
        )
    print(
        f"slowest footprint {worst:.1f} ms (target < 20 ms); "
        f"pandas/footprint ratio min {min(ratios):.1f}x (target >= 3x)"
    )


if __name__ == "__main__":
    main()
