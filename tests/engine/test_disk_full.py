"""The store's disk fills mid-run and space comes back: live data never waits, the store ends
exactly equal to the ground truth.

Needs root (it mounts a 4 MiB tmpfs for the store); CI runs as root.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import subprocess
from pathlib import Path

import pytest

from dashboard.header import status_html
from pipelines.engine.service import Engine
from pipelines.standin.server import StandIn
from pipelines.storage.store import Store
from tests.engine.test_end_to_end import assert_trades_equal, engine_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs for the store needs root"),
]


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a filler file until the file system has no space left."""
    filler = disk / "filler"
    chunk = b"\0" * 4096
    with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(chunk)
    with pytest.raises(OSError) as full, open(filler, "ab", buffering=0) as f:  # really full
        f.write(chunk)
    assert full.value.errno == errno.ENOSPC
    return filler


async def until(engine: Engine, condition, what: str, timeout_s: float = 90.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}: {engine.writer.status()}"
        # Not a divisor of the engine's batch interval: polled in step with it, every look
        # would land while a batch is on its way to the store, and "nothing waiting" never.
        await asyncio.sleep(0.03)


def assert_store_equals_truth(db: Path, engine: Engine, exchange: StandIn) -> int:
    """Per symbol: from the first stored trade to the newest the exchange made, each once."""
    compared = 0
    with Store(db) as store:
        for symbol in store.symbols():
            held, spec = store.load_trades(symbol, 0, 2**62)
            truth = exchange.ground_truth(symbol)
            compared += assert_trades_equal(held, truth, spec, symbol)
    return compared


async def test_disk_full_mid_run_then_space_returns(small_disk: Path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="pipelines.storage.writer")
    db = small_disk / "orderflow.db"
    async with StandIn(symbols=12, rate=300, seed=21) as exchange:
        # A small memory bound, so the full disk also drives trades into owed ranges.
        engine = engine_for(exchange, db_path=str(db), store_owed_rows=1500)
        await engine.start()
        lags: list[float] = []
        headers: set[str] = set()

        async def sample() -> None:
            while True:
                status = engine.status()
                if status.lag_ms is not None:
                    lags.append(status.lag_ms)
                if status.store_fault:
                    headers.add(status_html(status))
                await asyncio.sleep(0.1)

        await asyncio.sleep(3)  # warm-up: connections open, the first gaps close
        sampler = asyncio.create_task(sample())  # from here to the end of the episode
        filler = fill(small_disk)
        await until(
            engine, lambda: engine.status().store_fault == "disk full", "the disk-full fault"
        )
        await until(engine, lambda: engine.writer.status().owed_trades > 0, "trades past the bound")
        await asyncio.sleep(2)
        during = engine.status()
        filler.unlink()
        await until(engine, lambda: not engine.status().store_fault, "the store writing again")
        await until(
            engine, lambda: engine.status().store_waiting == 0, "the owed trades backfilled"
        )
        await asyncio.sleep(1)
        sampler.cancel()
        exchange.pause()  # freeze the truth, then fetch the tail a socket might still hide
        await engine.reconcile()
        await engine.stop()
        writer = engine.writer.status()
        compared = assert_store_equals_truth(db, engine, exchange)

    assert during.store_fault == "disk full" and during.store_waiting > 0
    assert any("store: disk full — " in h and " trades waiting" in h for h in headers)
    assert any("store disk full" in r.getMessage() for r in caplog.records)
    assert not any("cannot rollback" in r.getMessage() for r in caplog.records)
    assert engine.store_backfill.backfilled > 0  # the owed ranges came back from REST
    assert writer.quarantined_rows == 0 and writer.lost_rows == 0
    assert compared > 3000
    assert len(lags) > 100 and max(lags) < 1000, f"max lag {max(lags):.0f} ms"


async def test_ranges_still_owed_at_shutdown_are_backfilled_on_the_next_start(
    small_disk: Path, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="pipelines.storage.writer")
    db = small_disk / "orderflow.db"
    async with StandIn(symbols=12, rate=300, seed=22) as exchange:
        first = engine_for(exchange, db_path=str(db), store_owed_rows=1500)
        await first.start()

        async def rest_refuses() -> int:  # this run cannot backfill what the store is owed
            return 0

        first.store_backfill.fill_owed = rest_refuses
        await asyncio.sleep(3)
        filler = fill(small_disk)
        await until(first, lambda: first.writer.status().owed_trades > 0, "trades past the bound")
        filler.unlink()
        await until(first, lambda: not first.status().store_fault, "the store writing again")
        await until(first, lambda: first.writer.status().waiting_rows == 0, "the backlog written")
        await asyncio.sleep(1)  # newer trades are stored: the owed ranges lie below the checkpoint
        owed = {first.registry.symbol(r.sym): [r.first, r.last] for r in first.writer.owed()}
        await first.stop()
        recorded = json.loads((small_disk / "orderflow.db.owed.json").read_text())
        with Store(db) as store:  # a hole inside each symbol's stored range, not at its end
            stored = {s: store.load_trades(s, 0, 2**62)[0]["agg_id"] for s in owed}

        second = engine_for(exchange, db_path=str(db))
        await second.start()
        await until(second, lambda: second.store_backfill.backfilled > 0, "the owed backfill")
        await until(second, lambda: not second.writer.owed(), "nothing owed")
        await asyncio.sleep(1)
        exchange.pause()
        await second.reconcile()
        await second.stop()
        compared = assert_store_equals_truth(db, second, exchange)

    assert owed and recorded == owed
    for symbol, (lo, hi) in owed.items():
        ids = stored[symbol]
        assert ids[0] < lo and ids[-1] > hi, symbol  # inside the stored range: no restart gap
        assert ((ids >= lo) & (ids <= hi)).sum() < hi - lo + 1, symbol  # and missing there
    assert any("to backfill" in r.getMessage() for r in caplog.records)
    assert not (small_disk / "orderflow.db.owed.json").exists()  # nothing owed any more
    assert compared > 3000
