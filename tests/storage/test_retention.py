"""Retention prunes only what is older than its window, in bounded chunks."""

import time
from pathlib import Path

import numpy as np
import pytest

from pipelines.storage.retention import HOUR_MS, Pruner, Retention
from pipelines.storage.schema import connect
from pipelines.storage.store import Store
from pipelines.storage.writer import StoreWriter
from tests.storage.synth import T0, batch, registry

STEP_MS = 10 * 60_000
NOW = T0 + 5 * HOUR_MS


def fill(path: Path, n_batches: int = 30) -> np.ndarray:
    batches = [batch(k, per_symbol=5, step_ms=STEP_MS) for k in range(n_batches)]
    # The writer's own pruning must not run here: its clock is before any data.
    with StoreWriter(path, registry(), clock=lambda: T0, commit_interval_s=0.0) as writer:
        for b in batches:
            writer.submit(b)
    return np.concatenate([b.trades for b in batches])


def keys(conn, sql: str) -> set:
    return set(conn.execute(sql).fetchall())


def test_prunes_only_older_rows_in_small_chunks(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    trades = fill(path)
    conn = connect(path)
    profiles_before = keys(conn, "SELECT sym_id, minute, price_ticks FROM minute_profile_rows")
    bars_before = keys(conn, "SELECT sym_id, minute FROM minute_bar_rows")
    checkpoints = keys(conn, "SELECT id, last_agg_id FROM symbols")
    retention = Retention(trades_ms=2 * HOUR_MS, minutes_ms=3 * HOUR_MS, chunk_rows=7)
    pruner = Pruner(conn, retention, clock=lambda: NOW)

    deleted = []
    while True:
        n = pruner.step()
        deleted.append(n)
        if not pruner.due():
            break
    assert max(deleted) <= 7
    assert sum(1 for n in deleted if n == 7) > 10  # the work was split into many chunks
    assert pruner.step() == 0 and not pruner.due()  # next pass only after the interval

    trade_cut = NOW - 2 * HOUR_MS
    minute_cut = (NOW - 3 * HOUR_MS) // 60_000 * 60_000
    reg = registry()
    sid = {sym: i for i, sym in conn.execute("SELECT id, symbol FROM symbols")}
    kept = trades[trades["time"] >= trade_cut]
    want = {
        (sid[reg.symbol(int(s))], int(a)) for s, a in zip(kept["sym"], kept["agg_id"], strict=True)
    }
    assert keys(conn, "SELECT sym_id, agg_trade_id FROM trade_rows") == want
    assert 0 < len(want) < len(trades)
    assert keys(conn, "SELECT sym_id, minute, price_ticks FROM minute_profile_rows") == {
        k for k in profiles_before if k[1] >= minute_cut
    }
    assert keys(conn, "SELECT sym_id, minute FROM minute_bar_rows") == {
        k for k in bars_before if k[1] >= minute_cut
    }
    assert keys(conn, "SELECT id, last_agg_id FROM symbols") == checkpoints
    assert pruner.pruned["trades"] == len(trades) - len(want)
    conn.close()

    with Store(path) as store:  # the checkpoint survives pruning
        assert store.last_agg_ids()["BTCUSDT"] == int(trades["agg_id"][trades["sym"] == 0].max())


def test_writer_prunes_between_writes(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    trades = fill(path)
    retention = Retention(trades_ms=2 * HOUR_MS, minutes_ms=3 * HOUR_MS, chunk_rows=7)
    writer = StoreWriter(path, registry(), retention=retention, clock=lambda: NOW).start()
    writer.submit(batch(31, per_symbol=5, step_ms=STEP_MS))
    assert writer.flush(10)
    want = int((trades["time"] >= NOW - 2 * HOUR_MS).sum()) + 20
    with Store(path) as store:
        deadline = time.monotonic() + 30
        while store.trade_count() != want and time.monotonic() < deadline:
            time.sleep(0.01)  # the pass runs in the background, between writes
        assert store.trade_count() == want
    assert writer.close()
    assert writer.status().pruned_rows >= len(trades) + 20 - want


def test_bad_retention_settings() -> None:
    with pytest.raises(ValueError, match="positive"):
        Retention(chunk_rows=0)
    with pytest.raises(ValueError, match="at least as long"):
        Retention(trades_ms=10 * HOUR_MS, minutes_ms=HOUR_MS)
