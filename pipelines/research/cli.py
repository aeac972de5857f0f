"""`orderflow research {profiles,imbalance,big-orders}`: research datasets over an archive."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

# The outputs of pipelines.research.runner.OUTPUTS (a test keeps them equal); the runner itself
# is imported only when the command runs: Dask takes seconds to import.
OUTPUT_CHOICES = ("profiles", "imbalance", "big-orders")

EXIT_USAGE = 2
EXIT_PARTIAL = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "research",
        help="compute research datasets (Parquet) over months of archives, on Dask",
        description="Per contract-day minute tick profiles, minute flow imbalance or big orders "
        "vs the ADV of the 30 days before, written as Parquet partitioned by symbol and date "
        "(read them with dask.dataframe.read_parquet). A rerun computes only missing partitions.",
    )
    parser.add_argument("output", choices=OUTPUT_CHOICES, help="dataset to compute")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--archive", help="data.binance.vision base URL or a local mirror of it")
    src.add_argument("--db", type=Path, help="the store's database file instead of an archive")
    parser.add_argument("--symbols", required=True, help="comma-separated, e.g. BTCUSDT,ETHUSDT")
    parser.add_argument("--start", required=True, type=_date, help="first UTC day, YYYY-MM-DD")
    parser.add_argument("--end", required=True, type=_date, help="last UTC day (inclusive)")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=1, help="LocalCluster worker processes")
    where.add_argument("--scheduler", help="address of a running Dask scheduler")
    parser.add_argument("--threshold", type=float, default=0.005, help="big: fraction of ADV")
    parser.add_argument("--cache", type=Path, help="where downloaded archive files are kept")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(func=main)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def main(args: argparse.Namespace) -> int:
    from pipelines.research.api import research
    from pipelines.research.sources import SourceError

    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    try:
        if args.workers < 1:
            raise ValueError("--workers must be at least 1")
        if not args.threshold > 0:
            raise ValueError("--threshold is a positive fraction of ADV (0.005 = 0.5 %)")
        progress = None if args.quiet else (lambda line: print(line, file=sys.stderr))
        report = research(
            [args.output], symbols=symbols, start=args.start, end=args.end, out=args.out,
            archive=args.archive, db=args.db, cache=args.cache, workers=args.workers,
            scheduler=args.scheduler, threshold=args.threshold, progress=progress,
        )  # fmt: skip
    except (SourceError, ValueError, OSError) as exc:
        print(f"orderflow research: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for line in report.errors:
        print(f"orderflow research: {line}", file=sys.stderr)
    print(
        f"{args.output}: {report.tasks} tasks, {report.skipped} contract-days already done, "
        f"{report.trades:,} trades in {report.seconds:.1f} s "
        f"({report.trades_per_second:,.0f} trades/s), {len(report.no_data)} contract-days "
        f"without data, {len(report.errors)} errors -> {args.out}"
    )
    return EXIT_PARTIAL if report.errors else 0
