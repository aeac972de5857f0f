"""The analyst path: build_footprint(df) on a float DataFrame, against a pandas groupby.

    python benchmarks/bench_analyst.py [--trades 1000000] [--repeat 9]

The frame is in the data.binance.vision aggTrades layout with float prices and quantities, as
`read_agg_trades_csv` or `pd.read_csv` give it (a BTCUSDT-like tape: tick 0.1, step 0.001, the
floats the decimal text parses to). `build_footprint(df, tick_size="0.1")` includes everything:
grid inference for the step, float -> tick conversion, the kernel and the DataFrames. The
baseline, in the same run and interleaved with it, is a plain pandas groupby of the levels
alone (quantity sum and count per minute, price and side) on the float columns. Also shown:
the conversion alone (`frame_columns`) and the kernel alone (`footprint_from_records` on
integer columns), and the path through `trades_from_frame` (numpy tick conversion into 65-byte records). Medians of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from pipelines.analytics.footprint import FootprintRules, build_footprint, footprint_from_records
from pipelines.analytics.tradeframe import contract_spec, frame_columns
from pipelines.binance.archive import trades_from_frame


def float_tape(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.arange(n, dtype=np.int64)
    return pd.DataFrame(
        {
            "agg_trade_id": ids,
            # int / 10**d is correctly rounded: the same float as parsing the decimal text.
            "price": (600_000 + np.cumsum(rng.integers(-3, 4, n))) / 10,
            "quantity": rng.geometric(0.02, n) / 1000,
            "first_trade_id": ids,
            "last_trade_id": ids,
            "transact_time": 1_723_161_240_000
            + np.cumsum(rng.exponential(33.0, n)).astype(np.int64),
            "is_buyer_maker": rng.random(n) < 0.5,
        }
    )


def pandas_levels(df: pd.DataFrame) -> pd.DataFrame:
    keys = [df["transact_time"] // 60_000 * 60_000, df["price"], df["is_buyer_maker"]]
    return (
        df.groupby(keys)["quantity"].agg(["sum", "count"]).unstack("is_buyer_maker", fill_value=0)
    )


def previous_path(df: pd.DataFrame, rules: FootprintRules) -> object:
    """build_footprint through trades_from_frame: numpy ticks into TRADE_DTYPE records."""
    spec = contract_spec(df, tick_size="0.1")
    return footprint_from_records(trades_from_frame(df, spec), spec, rules)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    df = float_tape(args.trades)
    spec, cols = frame_columns(df, tick_size="0.1")
    rules = FootprintRules.make(spec)
    runs = {
        "build_footprint(df)": lambda: build_footprint(df, tick_size="0.1"),
        "pandas groupby of the levels": lambda: pandas_levels(df),
        "trades_from_frame path (numpy ticks)": lambda: previous_path(df, rules),
        "  conversion alone (frame_columns)": lambda: frame_columns(df, tick_size="0.1"),
        "  kernel alone (footprint_from_records)": lambda: footprint_from_records(
            cols, spec, rules
        ),
    }
    for fn in runs.values():
        fn()  # JIT warm-up (cached after the first run)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, fn in runs.items():  # interleaved, so load changes hit both alike
            times[name].append(timed(fn))
    med = {name: float(np.median(t)) for name, t in times.items()}
    print(f"{args.trades:,} float rows, median of {args.repeat} interleaved runs")
    for name, ms in med.items():
        print(f"{name:<42} {ms:8.1f} ms")
    ratio = med["pandas groupby of the levels"] / med["build_footprint(df)"]
    print(f"pandas / build_footprint ratio {ratio:.1f}x (target >= 3x)")


if __name__ == "__main__":
    main()
