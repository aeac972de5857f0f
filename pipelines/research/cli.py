"""`orderflow research {profiles,imbalance,big-orders,signals}`: research datasets over an
archive or the store."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path

# The outputs of pipelines.research.runner.OUTPUTS (a test keeps them equal); the runner itself
# is imported only when the command runs: Dask takes seconds to import.
OUTPUT_CHOICES = ("profiles", "imbalance", "big-orders", "signals")

EXIT_USAGE = 2
EXIT_PARTIAL = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "research",
        help="compute research datasets (Parquet) over months of archives, on Dask",
        description="Per contract-day minute tick profiles, minute flow imbalance, big orders "
        "vs the ADV of the 30 days before, or order-flow signals with their follow-through "
        "returns, written as Parquet partitioned by symbol and date (read them with "
        "dask.dataframe.read_parquet). A rerun computes only missing partitions.",
    )
    parser.add_argument("output", choices=OUTPUT_CHOICES, help="dataset to compute")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--archive", help="data.binance.vision base URL or a local mirror of it")
    src.add_argument("--db", type=Path, help="the store's database file instead of an archive")
    parser.add_argument(
        "--symbols",
        required=True,
        help="comma-separated, e.g. BTCUSDT,ETHUSDT, or 'all' (a local mirror's or the store's)",
    )
    parser.add_argument("--start", required=True, type=_date, help="first UTC day, YYYY-MM-DD")
    parser.add_argument("--end", required=True, type=_date, help="last UTC day (inclusive)")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=1, help="LocalCluster worker processes")
    where.add_argument("--scheduler", help="address of a running Dask scheduler")
    parser.add_argument("--threshold", type=float, default=0.005, help="big: fraction of ADV")
    parser.add_argument("--bin", help="signals: a fixed bin, whole ticks (default: automatic)")
    parser.add_argument("--cache", type=Path, help="where downloaded archive files are kept")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(func=main)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _symbols(text: str) -> list[str] | str:
    if text.strip().lower() == "all":
        return "all"
    return [s.strip().upper() for s in text.split(",") if s.strip()]


def _bin(text: str | None, output: str) -> int | None:
    """--bin as a positive whole number of ticks (checked here: one line, not argparse's usage)."""
    if text is None:
        return None
    if output != "signals":
        raise ValueError("--bin applies to signals only")
    if not re.fullmatch(r"[0-9]+", text.strip()) or int(text) < 1:
        raise ValueError(f"--bin must be a positive whole number of ticks, got {text!r}")
    return int(text)


def main(args: argparse.Namespace) -> int:
    from pipelines.research.api import research
    from pipelines.research.sources import SourceError

    symbols = _symbols(args.symbols)
    try:
        if args.workers < 1:
            raise ValueError("--workers must be at least 1")
        if not args.threshold > 0:
            raise ValueError("--threshold is a positive fraction of ADV (0.005 = 0.5 %)")
        bin_ticks = _bin(args.bin, args.output)
        progress = None if args.quiet else (lambda line: print(line, file=sys.stderr))
        report = research(
            [args.output], symbols=symbols, start=args.start, end=args.end, out=args.out,
            archive=args.archive, db=args.db, cache=args.cache, workers=args.workers,
            scheduler=args.scheduler, threshold=args.threshold, bin_ticks=bin_ticks,
            progress=progress,
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
