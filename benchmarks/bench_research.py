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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=4)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--rows", type=int, default=250_000, help="aggTrades per contract-day")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-research-"))
    try:
        root = tmp / "archive"
        days = [dt.date(2024, 6, 1) + dt.timedelta(days=i) for i in range(args.days)]
        specs = contracts(args.contracts, args.rows)
        write_archive(root, days, specs)
        symbols = [c.symbol for c in specs]
        source = ArchiveSource(str(root))
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

        rates = {}
        for workers in (1, 2):
            with client_for(workers=workers) as client:
                client.submit(
                    day_task, source, symbols[0], days[0], str(tmp / "warm"), KINDS
                ).result()
                report = run(client, source, list(OUTPUTS), symbols, days[0], days[-1],
                             str(tmp / f"out{workers}"))  # fmt: skip
            assert not report.errors, report.errors
            assert report.trades == total, report.trades
            rates[workers] = report.trades_per_second
        print(f"{'serial, in-process (baseline)':<34} {serial:>12,.0f} trades/s")
        print(f"{'  of which reading the CSVs':<34} {csv_share:>12.0%}")
        for workers, rate in rates.items():
            print(f"{f'research, {workers} worker(s)':<34} {rate:>12,.0f} trades/s  "
                  f"{rate / serial:.2f} x serial")  # fmt: skip
        print(f"2 workers / 1 worker: {rates[2] / rates[1]:.2f}")
        print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
