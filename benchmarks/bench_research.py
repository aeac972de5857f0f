"""Trades/s through `orderflow research` on a local archive mirror, with 1 and 2 workers.

    python -m benchmarks.bench_research [--contracts 4] [--days 3] [--rows 250000]

A generated data.binance.vision mirror (zips + CHECKSUMs, header rows on every other day, the
generator of tests/research) of `--contracts` x `--days` contract-days. Each run computes all
three outputs (profiles, imbalance, big orders vs the archive ADV) into a fresh directory:
  * serial: the same per-day task called in this process, one contract-day after another, no
    Dask (the baseline of this run);
  * research on a LocalCluster of 1 worker process, then of 2 (one thread each).
Trades/s = trades read / wall time of the run (cluster start-up excluded, task scheduling,
checksum, unzip, CSV parse, kernels and Parquet writes included). Also shown: the share of
the serial time spent reading the CSVs (read_agg_trades_csv alone).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path

from pipelines.binance import vision
from pipelines.binance.archive import read_agg_trades_csv
from pipelines.research.runner import OUTPUTS, client_for, day_task, run
from pipelines.research.sources import ArchiveSource
from tests.research.archive import Contract, write_archive

KINDS = sorted({k for kinds in OUTPUTS.values() for k in kinds} | {"days"})


def contracts(n: int, rows: int) -> tuple[Contract, ...]:
    grids = ((1, 3, 600_000), (2, 3, 300_000), (4, 0, 5_000), (3, 1, 20_000))
    return tuple(Contract(f"C{i:02d}USDT", *grids[i % len(grids)], rows) for i in range(n))


def mirror_args(doc: str) -> argparse.Namespace:
    """--contracts, --days and --rows of a generated mirror, from the command line."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=4)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--rows", type=int, default=250_000, help="aggTrades per contract-day")
    return parser.parse_args()


def generated_mirror(
    root: Path, n_contracts: int, n_days: int, rows: int, whole_day: bool = False
) -> tuple[list[dt.date], list[str], ArchiveSource]:
    """A generated local mirror below `root`: (its days, its contracts, the source).
    `whole_day`: trades until midnight (else about the first 10 hours of each day)."""
    days = [dt.date(2024, 6, 1) + dt.timedelta(days=i) for i in range(n_days)]
    specs = contracts(n_contracts, rows)
    write_archive(root, days, specs, whole_day=whole_day)
    return days, [c.symbol for c in specs], ArchiveSource(str(root))


def cluster_rates(
    source: ArchiveSource,
    outputs: list[str],
    symbols: list[str],
    start: dt.date,
    end: dt.date,
    tmp: Path,
    total: int,
) -> dict[int, float]:
    """Trades/s of `run` on a LocalCluster of 1, then of 2 workers, each into a fresh directory
    below `tmp` (every worker's kernels compiled by one task first)."""
    kinds = sorted({k for o in outputs for k in OUTPUTS[o]} | {"days"})
    rates = {}
    for workers in (1, 2):
        with client_for(workers=workers) as client:
            client.submit(day_task, source, symbols[0], start, str(tmp / "warm"), kinds).result()
            report = run(client, source, outputs, symbols, start, end, str(tmp / f"out{workers}"))
        assert not report.errors, report.errors
        assert report.trades == total, report.trades
        rates[workers] = report.trades_per_second
    return rates


def print_rates(label: str, rates: dict[int, float], baseline: float, name: str) -> None:
    """One line per worker count against `baseline` (called `name`), the 2/1 ratio, the load."""
    for workers, rate in rates.items():
        print(f"{f'{label}, {workers} worker(s)':<34} {rate:>12,.0f} trades/s  "
              f"{rate / baseline:.2f} x {name}")  # fmt: skip
    print(f"2 workers / 1 worker: {rates[2] / rates[1]:.2f}")
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


def main() -> None:
    args = mirror_args(__doc__)
    tmp = Path(tempfile.mkdtemp(prefix="bench-research-"))
    try:
        root = tmp / "archive"
        days, symbols, source = generated_mirror(root, args.contracts, args.days, args.rows)
        total = args.contracts * args.days * args.rows
        print(
            f"{args.contracts} contracts x {args.days} days x {args.rows:,} rows = {total:,} trades"
        )

        day_task(source, symbols[0], days[0], str(tmp / "warm"), KINDS)  # JIT (cached after)
        began = time.perf_counter()
        for symbol in symbols:
            for day in days:
                day_task(source, symbol, day, str(tmp / "serial"), KINDS)
        serial = total / (time.perf_counter() - began)
        began = time.perf_counter()
        for symbol in symbols:
            for day in days:
                read_agg_trades_csv(root / vision.day_path(symbol, day))
        csv_share = (time.perf_counter() - began) / (total / serial)

        rates = cluster_rates(source, list(OUTPUTS), symbols, days[0], days[-1], tmp, total)
        print(f"{'serial, in-process (baseline)':<34} {serial:>12,.0f} trades/s")
        print(f"{'  of which reading the CSVs':<34} {csv_share:>12.0%}")
        print_rates("research", rates, serial, "serial")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
