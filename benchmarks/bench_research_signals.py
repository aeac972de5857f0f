"""Trades/s through `orderflow research signals` on a local archive mirror, 1 and 2 workers.

    python -m benchmarks.bench_research_signals [--contracts 4] [--days 3] [--rows 250000]

The generated mirror of benchmarks/bench_research (zips + CHECKSUMs), with trades spread over
each whole day, holds `--days` days plus one before and one after, so every contract-day's
task does its whole work: read the day, the day before (warm-up) and the day after
(follow-through), signals over both days, returns, Parquet. Trades/s = trades of the
`--contracts` x `--days` contract-days asked for / wall time of the run (cluster start-up
excluded). The 1-worker run is the baseline. Also shown, from one task run in this process:
the share of its time spent in `signals_from_profile`.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_research import (
    cluster_rates,
    generated_mirror,
    mirror_args,
    print_rates,
)
from pipelines.research import signal_day
from pipelines.research.runner import day_task
from pipelines.research.sources import ArchiveSource


def signals_share(source: ArchiveSource, symbol: str, day: dt.date, out: Path) -> float:
    """Share of one in-process task's wall time spent in signals_from_profile."""
    inner = signal_day.signals_from_profile
    spent = 0.0

    def timed(*args: Any, **kwargs: Any) -> Any:
        nonlocal spent
        began = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent += time.perf_counter() - began

    signal_day.signals_from_profile = timed
    try:
        began = time.perf_counter()
        day_task(source, symbol, day, str(out), ["signals"])
        return spent / (time.perf_counter() - began)
    finally:
        signal_day.signals_from_profile = inner


def main() -> None:
    args = mirror_args(__doc__)
    tmp = Path(tempfile.mkdtemp(prefix="bench-research-signals-"))
    try:
        # One day more on each side: every task in the range warms up and follows through.
        # Trades until midnight: a day's signals run over all its 1,440 minutes, as on Binance.
        days, symbols, source = generated_mirror(
            tmp / "archive", args.contracts, args.days + 2, args.rows, whole_day=True
        )
        start, end = days[1], days[-2]
        total = args.contracts * args.days * args.rows
        print(f"{args.contracts} contracts x {args.days} days x {args.rows:,} rows = {total:,} "
              "trades (and the day before and after each)")  # fmt: skip
        day_task(source, symbols[0], start, str(tmp / "warm"), ["signals"])  # JIT (cached after)
        share = signals_share(source, symbols[0], start, tmp / "share")

        rates = cluster_rates(source, ["signals"], symbols, start, end, tmp, total)
        print(f"{'signals_from_profile, 1 task':<34} {share:>12.0%} of its time")
        print_rates("research signals", rates, rates[1], "1 worker")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
