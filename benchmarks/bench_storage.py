"""Sustained write rate of the store writer, against a bare executemany of the same rows.

Synthetic market: 600 contracts with a skewed share of the flow (a few carry most trades), each
batch standing for one second of market time, so minutes roll over and minute profiles and bars are
upserted as in production. The writer run covers everything it does per trade (de-duplication,
grid conversion, trade rows, minute profiles, minute bars, checkpoints) from the first submit to
a drained `close()`. The baseline inserts the same trade rows, prepared the same way, with
`executemany` into a bare rowid table in transactions of the same size.

    python benchmarks/bench_storage.py [--trades 1000000] [--batch 2000] [--symbols 600]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.batch import EngineBatch
from pipelines.records.dtypes import TRADE_DTYPE
from pipelines.storage.retention import Retention
from pipelines.storage.writer import StoreWriter

BATCH_MS = 1000


def make_batches(
    n_trades: int, batch: int, n_symbols: int, seed: int = 7
) -> tuple[SymbolRegistry, list[EngineBatch]]:
    rng = np.random.default_rng(seed)
    registry = SymbolRegistry(
        [ContractSpec(f"S{i:03d}USDT", "0.01", "0.001") for i in range(n_symbols)]
    )
    weight = 1.0 / np.arange(1, n_symbols + 1)  # Zipf-like share of the flow
    weight /= weight.sum()
    next_id = np.full(n_symbols, 1_000_000, dtype=np.int64)
    price = rng.integers(1_000, 5_000_000, n_symbols)
    t0 = 1_700_000_000_000
    batches = []
    for k in range(n_trades // batch):
        sym = np.sort(rng.choice(n_symbols, size=batch, p=weight)).astype(np.int32)
        trades = np.zeros(batch, dtype=TRADE_DTYPE)
        trades["sym"] = sym
        counts = np.bincount(sym, minlength=n_symbols)
        within = np.arange(batch) - np.repeat(np.cumsum(counts) - counts, counts)
        trades["agg_id"] = next_id[sym] + within
        next_id += counts
        trades["first_id"] = trades["agg_id"] * 3
        trades["last_id"] = trades["first_id"] + rng.integers(0, 3, batch)
        trades["time"] = t0 + k * BATCH_MS + np.sort(rng.integers(0, BATCH_MS, batch))
        price += rng.integers(-3, 4, n_symbols)
        trades["price"] = price[sym] + rng.integers(-5, 6, batch)
        trades["qty"] = rng.integers(1, 5000, batch)
        trades["buyer_maker"] = rng.random(batch) < 0.5
        batches.append(EngineBatch(seq=k, created_ms=0, trades=trades))
    return registry, batches


def run_writer(
    path: Path, registry: SymbolRegistry, batches: list[EngineBatch]
) -> tuple[float, dict]:
    # Data times are in 2023; a clock there keeps retention from pruning what is being written.
    clock = lambda: int(batches[-1].trades["time"][-1])  # noqa: E731
    # Room for every row: this measures writing, not the bound past which trades are owed.
    rows = sum(len(b.trades) for b in batches)
    writer = StoreWriter(
        path, registry, retention=Retention(), clock=clock, max_owed_rows=rows
    ).start()
    started = time.perf_counter()
    for batch in batches:
        writer.submit(batch)
    ok = writer.close(timeout=600)
    elapsed = time.perf_counter() - started
    status = writer.status()
    if not ok or status.quarantined_rows or status.errors:
        raise SystemExit(f"writer did not finish cleanly: {status}")
    conn = sqlite3.connect(path)
    counts = {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("trade_rows", "minute_profile_rows", "minute_bar_rows")
    }
    conn.close()
    counts["transactions"] = status.transactions
    counts["mean_txn_ms"] = round(status.mean_write_ms, 1)
    counts["max_txn_ms"] = round(status.max_write_ms, 1)
    return elapsed, counts


def run_baseline(path: Path, batches: list[EngineBatch], txn_rows: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE bare (sym_id INTEGER, agg_trade_id INTEGER, price_ticks INTEGER, "
        "qty_steps INTEGER, transact_time INTEGER, is_buyer_maker INTEGER, "
        "first_trade_id INTEGER, last_trade_id INTEGER)"
    )
    sql = "INSERT INTO bare VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    started = time.perf_counter()
    pending = 0
    conn.execute("BEGIN")
    for batch in batches:
        t = batch.trades
        columns = (t["sym"], t["agg_id"], t["price"], t["qty"], t["time"],
                   t["buyer_maker"].astype(np.int64), t["first_id"], t["last_id"])  # fmt: skip
        conn.executemany(sql, zip(*(c.tolist() for c in columns), strict=True))
        pending += len(t)
        if pending >= txn_rows:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
            pending = 0
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--symbols", type=int, default=600)
    args = parser.parse_args()
    registry, batches = make_batches(args.trades, args.batch, args.symbols)
    n = sum(len(b.trades) for b in batches)
    with tempfile.TemporaryDirectory() as tmp:
        elapsed, counts = run_writer(Path(tmp) / "store.db", registry, batches)
        per_txn = n // max(counts["transactions"], 1)
        base = run_baseline(Path(tmp) / "bare.db", batches, per_txn)
        size_mb = (Path(tmp) / "store.db").stat().st_size / 2**20
    writer_rate, base_rate = n / elapsed, n / base
    print(f"trades: {n:,} in {len(batches)} batches of {args.batch}, {args.symbols} symbols")
    print(f"store writer : {writer_rate:>10,.0f} trades/s  ({elapsed:.2f} s) {counts}")
    print(f"bare baseline: {base_rate:>10,.0f} trades/s  ({base:.2f} s, {per_txn:,} rows/txn)")
    print(f"ratio writer/baseline: {writer_rate / base_rate:.2f}")
    print(f"store file: {size_mb:.1f} MiB ({size_mb * 2**20 / n:.1f} bytes/trade, all tables)")


if __name__ == "__main__":
    main()
