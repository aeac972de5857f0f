"""SIGKILL while writing: the file opens cleanly, holds whole transactions only, and a restart
that replays from the beginning counts nothing twice."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pipelines.storage.schema import connect
from pipelines.storage.writer import StoreWriter
from tests.storage.crash_writer import PER_SYMBOL
from tests.storage.synth import (
    GRIDS,
    T0,
    batch,
    naive_minutes,
    registry,
    stored_minutes,
    symbol_ids,
)

ROOT = Path(__file__).resolve().parents[2]


def stored_count(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT count(*) FROM trade_rows").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def kill_while_writing(path: Path, at_least: int) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.storage.crash_writer", str(path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while stored_count(path) < at_least:
            assert child.poll() is None, "the writer process died on its own"
            assert time.monotonic() < deadline, "the writer process wrote nothing"
            time.sleep(0.02)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL


def check_whole_batches(path: Path) -> int:
    """The store holds exactly batches 0..k-1, consistently in every table; returns k."""
    conn = connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ids = symbol_ids(conn)
    per_symbol = {
        sym: [r[0] for r in conn.execute(
            "SELECT agg_trade_id FROM trade_rows WHERE sym_id = ? ORDER BY agg_trade_id", (sid,))]
        for sym, sid in ids.items()
    }  # fmt: skip
    n = len(per_symbol["BTCUSDT"])
    assert n % PER_SYMBOL == 0, "a batch was split across transactions"
    k = n // PER_SYMBOL
    for sym, _, _ in GRIDS:
        assert per_symbol[sym] == list(range(1, n + 1)), sym  # no gap, no duplicate
    checkpoints = dict(conn.execute("SELECT symbol, last_agg_id FROM symbols").fetchall())
    assert checkpoints == dict.fromkeys(ids, n)
    reg = registry()
    trades = np.concatenate([batch(j, per_symbol=PER_SYMBOL).trades for j in range(k)])
    assert stored_minutes(conn, ids, reg) == naive_minutes(trades)
    conn.close()
    return k


def test_sigkill_mid_stream_then_recover(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    kill_while_writing(path, at_least=40 * PER_SYMBOL * len(GRIDS))
    first = check_whole_batches(path)
    assert first >= 40

    kill_while_writing(path, at_least=(first + 40) * PER_SYMBOL * len(GRIDS))  # resumes
    second = check_whole_batches(path)
    assert second >= first + 40

    # A recovery that replays everything from the start: duplicates are ignored, not added.
    target = second + 5
    with StoreWriter(path, registry(), clock=lambda: T0) as writer:
        for j in range(target):
            writer.submit(batch(j, per_symbol=PER_SYMBOL))
        assert writer.flush(30)
        assert writer.status().trades_written == 5 * PER_SYMBOL * len(GRIDS)
    assert check_whole_batches(path) == target
