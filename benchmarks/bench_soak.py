"""Soak: `orderflow ingest` for 30 minutes against the stand-in with every fault on and a
disk-full episode; RSS over time and the store against the ground truth.

    python -m benchmarks.bench_soak [--minutes 30] [--symbols 100] [--rate 500]
                                    [--buffer-minutes 240] [--store-cache-mb 64]

`orderflow simulate --truth` (faults: drops, stalls, malformed frames, duplicates, reordering,
gaps, 429s) and `orderflow ingest` run as the processes a server would run. The store lives on
a tmpfs mounted here (root only; without root the disk-full episode is skipped and said so):
at `--full-at` minutes a filler file takes the rest of its space, `--full-for` minutes later
it is deleted. Every `--sample-s` seconds the ingest process's RSS is sampled. Near the end the
faults are switched off (gaps close), ingest is stopped with SIGTERM and then the stand-in.
Printed: RSS per 5 minutes, the lag the engine logged (max), what the log said about the
store, and per symbol whether the store equals the truth file over the stored range (every id
from the first to the last stored one, each once, price, quantity, time, side equal).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from benchmarks.common import free_port
from pipelines.binance.contracts import ContractSpec
from pipelines.standin.truth import read_truth
from pipelines.storage.schema import DEFAULT_CACHE_MB

FAULTS = (
    "drop=0.002,stall=0.002:5,malformed=0.001,duplicate=0.01,reorder=0.005,gap=0.002,rest429=0.02"
)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def spawn(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
    )


@contextlib.contextmanager
def small_disk(size_mb: int):
    """A tmpfs of `size_mb` (None without root or mount rights)."""
    with tempfile.TemporaryDirectory(prefix="soak-disk-") as where:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", where],
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode:
            print(f"no tmpfs ({done.stderr.strip() or 'not root'}): no disk-full episode")
            yield None
            return
        try:
            yield Path(where)
        finally:
            subprocess.run(["umount", "-l", where], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
    return filler


def compare(db: Path, truth_path: Path) -> tuple[int, int, list[str]]:
    """(trades compared, symbols compared, symbols that differ) over each stored range."""
    truth = read_truth(truth_path)
    conn = sqlite3.connect(db)
    specs = {r[0]: ContractSpec(r[0], r[1], r[2]) for r in
             conn.execute("SELECT symbol, tick_size, step_size FROM symbols")}  # fmt: skip
    compared, bad = 0, []
    for symbol, spec in specs.items():
        rows = np.array(conn.execute(
            "SELECT t.agg_trade_id, t.price_ticks, t.qty_steps, t.transact_time, t.is_buyer_maker "
            "FROM trade_rows t JOIN symbols s ON s.id = t.sym_id WHERE s.symbol = ? "
            "ORDER BY t.agg_trade_id", (symbol,)).fetchall(), dtype=np.int64)  # fmt: skip
        if len(rows) == 0:
            continue
        want = truth[
            (truth["symbol"] == symbol) & truth["agg_trade_id"].between(rows[0, 0], rows[-1, 0])
        ]
        ok = (
            len(want) == len(rows)
            and np.array_equal(rows[:, 0], want["agg_trade_id"])
            and np.array_equal(rows[:, 1], spec.price_to_ticks(want["price"].to_numpy(float)))
            and np.array_equal(rows[:, 2], spec.qty_to_steps(want["quantity"].to_numpy(float)))
            and np.array_equal(rows[:, 3], want["transact_time"])
            and np.array_equal(rows[:, 4].astype(bool), want["is_buyer_maker"])
        )
        compared += len(rows)
        if not ok:
            bad.append(f"{symbol}: {len(rows)} stored, {len(want)} in the truth")
    conn.close()
    return compared, len(specs), bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--full-at", type=float, default=10.0, help="disk fills at minute M")
    parser.add_argument("--full-for", type=float, default=3.0, help="for M minutes")
    parser.add_argument("--sample-s", type=float, default=30.0)
    parser.add_argument("--disk-mb", type=int, default=512)
    parser.add_argument(
        "--buffer-minutes", type=float, default=240.0, help="ingest's raw buffer (default 4 h)"
    )
    parser.add_argument(
        "--store-cache-mb", type=int, default=DEFAULT_CACHE_MB, help="ingest's SQLite page cache"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    port = free_port()
    rest, ws = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    with small_disk(args.disk_mb) as disk:
        db = (disk or work) / "orderflow.db"
        sim = spawn(["simulate", "--port", str(port), "--symbols", str(args.symbols), "--rate",
                     str(args.rate), "--faults", FAULTS, "--truth", str(work / "truth.csv"),
                     "--retention", str(args.minutes * 60 + 600)], work / "simulate.log")  # fmt: skip
        time.sleep(3)
        ingest = spawn(["ingest", "--rest-url", rest, "--ws-url", ws, "--db", str(db),
                        "--status-every", "5", "--buffer-minutes", str(args.buffer_minutes),
                        "--store-cache-mb", str(args.store_cache_mb)],
                       work / "ingest.log")  # fmt: skip
        start = time.monotonic()
        samples: list[tuple[float, float]] = []
        filler = None
        faults_on = True
        end = args.minutes * 60
        while (now := time.monotonic() - start) < end:
            samples.append((now / 60, rss_mb(ingest.pid)))
            if disk and filler is None and now >= args.full_at * 60:
                filler = fill(disk)
                print(f"minute {now / 60:.1f}: disk full", flush=True)
            if (
                filler is not None
                and filler.exists()
                and now >= (args.full_at + args.full_for) * 60
            ):
                filler.unlink()
                print(f"minute {now / 60:.1f}: space back", flush=True)
            if faults_on and now >= end - 60:
                off = urllib.request.Request(f"{rest}/admin/faults?spec=", method="POST")
                urllib.request.urlopen(off).close()
                faults_on = False
                print(f"minute {now / 60:.1f}: faults off, gaps close", flush=True)
            time.sleep(min(args.sample_s, end - now))
        ingest.send_signal(signal.SIGTERM)
        code = ingest.wait(300)
        sim.send_signal(signal.SIGTERM)
        sim.wait(60)
        log = (work / "ingest.log").read_text()
        compared, symbols, bad = compare(db, work / "truth.csv")
    lags = [int(x) for x in re.findall(r"lag (\d+) ms", log)]
    buffers = [int(x) for x in re.findall(r"buffer (\d+) MB", log)]
    print(f"ingest exit code {code}; work dir {work}")
    print("RSS of ingest (MB), minute: value")
    for m0 in range(0, int(args.minutes) + 1, 5):
        window = [r for m, r in samples if m0 <= m < m0 + 5]
        if window:
            print(f"  {m0:>3}-{m0 + 5:<3} min  {min(window):7.0f} .. {max(window):7.0f}")
    warm = [r for m, r in samples if m >= 5]
    if warm:
        print(
            f"after 5 min warm-up: {min(warm):.0f} .. {max(warm):.0f} MB (spread {max(warm) - min(warm):.0f} MB)"
        )
    print(f"raw buffer at the end: {buffers[-1] if buffers else -1} MB")
    print(f"status lag logged every 5 s: max {max(lags, default=-1)} ms, "
          f"p99 {np.percentile(lags, 99) if lags else -1:.0f} ms over {len(lags)} lines")  # fmt: skip
    for pattern in ("store disk full", "store writes again", "backfilled", "stopped:"):
        hits = [line for line in log.splitlines() if pattern in line]
        if hits:
            print(f"log: {hits[0].split(': ', 1)[-1][:160]}  ({len(hits)}x)")
    print(f"store vs truth: {compared:,} trades over {symbols} symbols compared, "
          f"{len(bad)} symbols differ {bad[:5]}")  # fmt: skip
    print("tracebacks in the ingest log:", log.count("Traceback"))


if __name__ == "__main__":
    main()
