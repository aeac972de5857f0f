"""Engine CPU with 20 local order books (`@depth@100ms`) against the same engine without books;
the books' memory and their store bytes per book-hour.

    python -m benchmarks.bench_book_engine [--symbols 600] [--rate 1000] [--books 20]
        [--seconds 90] [--warmup 40] [--rounds 1]

The stand-in runs in a process of its own. Each round runs the engine (with a store, as
`orderflow serve` does) in a fresh process without books (the round's baseline), then with
books on the `--books` busiest contracts (by 24 h quote volume, opened once the first
`!ticker@arr` arrived, as heatmaps would), over the same stand-in. CPU is user + system time
over `--seconds` after `--warmup`, as % of one core. With books, the engine reports their
memory (the levels' dicts and the seconds kept in memory, measured with sys.getsizeof and
numpy's nbytes) and both arms their RSS; after the run the store's `book_seconds` rows give
bytes per book-hour (each row is one contract's second).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_cpu import cpu_percent, process
from benchmarks.common import standin_process

# argv[1:]: REST URL, websocket URL, books wanted, store path, a file the figures go to.
ENGINE = """
import asyncio, json, sys
from pipelines.engine.service import Engine, EngineConfig

def deep(d):
    return sys.getsizeof(d) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in d.items())

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

async def main():
    wanted = int(sys.argv[3])
    engine = Engine(EngineConfig(rest_url=sys.argv[1], ws_url=sys.argv[2], db_path=sys.argv[4],
                                 warm_hours=0))
    await engine.start()
    while len(engine.quote_volume_24h) < 100:
        await asyncio.sleep(0.2)
    busiest = sorted(engine.quote_volume_24h, key=engine.quote_volume_24h.get, reverse=True)
    books = engine.order_books
    for sym in busiest[:wanted]:
        await books.open(engine.registry.symbol(sym), "bench")
    while True:
        await asyncio.sleep(2)
        entries = list(books._books.values())
        levels = sum(deep(e.book.bids) + deep(e.book.asks) for e in entries)
        seconds = sum(s.bids.nbytes + s.asks.nbytes + 200 for e in entries for s in e.seconds)
        with open(sys.argv[5], "w") as fh:
            json.dump({"books": len(entries), "synced": sum(e.book.synced for e in entries),
                       "levels": sum(len(e.book.bids) + len(e.book.asks) for e in entries),
                       "level_bytes": levels, "second_bytes": seconds,
                       "seconds_kept": sum(len(e.seconds) for e in entries),
                       "resyncs": books.resyncs, "snapshots": books.snapshots,
                       "rss": rss()}, fh)

asyncio.run(main())
"""


def store_figures(db: Path) -> tuple[int, int, int]:
    """(book-second rows, bytes of their columns, bytes of the table's pages) in the store."""
    with sqlite3.connect(db) as conn:
        rows, column_bytes = conn.execute(
            "SELECT count(*), coalesce(sum(length(symbol) + 8 + 1 + 8 + 8 + length(tick_size)"
            " + length(step_size) + length(levels)), 0) FROM book_seconds"
        ).fetchone()
        try:
            pages = conn.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE name IN "
                "('book_seconds', 'sqlite_autoindex_book_seconds_1')"
            ).fetchone()[0]
        except sqlite3.OperationalError:  # SQLite without the dbstat table
            pages = 0
    return rows, column_bytes or 0, pages or 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=600)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--books", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--warmup", type=float, default=40.0)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with standin_process(symbols=args.symbols, rate=args.rate) as (rest, ws), \
            tempfile.TemporaryDirectory() as tmp:  # fmt: skip
        report = Path(tmp) / "figures.json"
        for r in range(1, args.rounds + 1):
            cpu, seen = {}, {}
            for books in (0, args.books):
                db = Path(tmp) / f"store-{r}-{books}.db"
                cmd = [sys.executable, "-c", ENGINE, rest, ws, str(books), str(db), str(report)]
                with process(cmd, {}) as pid:
                    time.sleep(args.warmup)
                    cpu[books] = cpu_percent(pid, args.seconds)
                    time.sleep(3)  # the figures file is written every 2 s
                    seen[books] = json.loads(report.read_text())
                print(f"round {r}: engine with {books} books: {cpu[books]:.1f} % of a core, "
                      f"RSS {seen[books]['rss'] / 2**20:.0f} MiB", flush=True)  # fmt: skip
            on = seen[args.books]
            extra = cpu[args.books] - cpu[0]
            print(f"round {r}: {args.books} books cost {extra:+.1f} % of a core "
                  f"({cpu[args.books] / max(cpu[0], 0.1):.3f}x the same round's no-book "
                  f"baseline; target <= +5 %)", flush=True)  # fmt: skip
            print(f"round {r}: {on['synced']}/{on['books']} books synced, {on['levels']} levels, "
                  f"{on['resyncs']} resyncs, {on['snapshots']} snapshots; levels "
                  f"{on['level_bytes'] / 2**20:.1f} MiB, {on['seconds_kept']} seconds in memory "
                  f"{on['second_bytes'] / 2**20:.1f} MiB; RSS {(on['rss'] - seen[0]['rss']) / 2**20:+.0f} "
                  f"MiB over the no-book arm", flush=True)  # fmt: skip
            rows, column_bytes, pages = store_figures(Path(tmp) / f"store-{r}-{args.books}.db")
            hours = rows / 3600
            if rows:
                print(f"round {r}: store: {rows} book-seconds ({hours:.3f} book-hours), "
                      f"{column_bytes / hours / 2**20:.1f} MiB of row data per book-hour, "
                      f"{pages / hours / 2**20:.1f} MiB of table and index pages per book-hour",
                      flush=True)  # fmt: skip
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
