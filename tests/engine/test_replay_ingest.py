"""A real capture replayed through the whole platform: stand-in --hold -> `orderflow ingest`.

The hftbacktest BTCUSDT capture of 2024-08-08 carries raw `@trade` frames only; the stand-in
serves them as `@aggTrade` too, holds the replay until the engine subscribes, and the engine
(run as the real CLI, a black box) must end with every aggregate in its store, exactly. The
reference is SOURCES.md's independently derived aggTrades CSV of the same trades.
"""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from pipelines.standin.server import StandIn
from pipelines.storage.store import Store
from tests.samples import sample

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = "hftbacktest_usdm_btcusdt_20240808.gz"
REFERENCE = "DERIVED_APPROX_BTCUSDT-aggTrades-2024-08-08_2354-0000UTC_from_ws_trade.csv"
GUARD_S = 240  # only against a hang; the test waits on progress, not on time


async def _stats(http: aiohttp.ClientSession, exchange: StandIn) -> dict:
    async with http.get(f"{exchange.rest_url}/admin/stats") as resp:
        return (await resp.json())["replay"]


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    with Store(db) as store:
        return store.trade_count("BTCUSDT") if "BTCUSDT" in store.symbols() else 0


async def test_a_held_capture_reaches_the_store_complete(tmp_path: Path) -> None:
    with sample(REFERENCE).open() as fh:
        reference = list(csv.DictReader(fh))
    db = tmp_path / "store.sqlite"
    async with (
        StandIn(replay=sample(CAPTURE), speed=20.0, hold=True) as exchange,
        aiohttp.ClientSession() as http,
    ):
        before = await _stats(http, exchange)
        assert not before["started"] and before["released"] == 0
        held_time = before["server_time"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        ingest = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pipelines.cli", "ingest",
            "--rest-url", exchange.rest_url, "--ws-url", exchange.ws_url,
            "--db", str(db), "--status-every", "1",
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + GUARD_S
            while not (await _stats(http, exchange))["done"]:
                assert loop.time() < deadline, "the replay never finished"
                await asyncio.sleep(0.5)
            after = await _stats(http, exchange)
            # Server time followed the capture's clock: frozen while held, then the capture's.
            assert 1_723_161_250_000 <= held_time < 1_723_161_257_000  # the capture's start
            assert 1_723_161_256_000 < after["server_time"] < 1_723_161_700_000
            while _stored(db) < len(reference):
                assert loop.time() < deadline, f"store holds {_stored(db)} of {len(reference)}"
                await asyncio.sleep(0.5)
        finally:
            ingest.send_signal(signal.SIGINT)
            _, err = await ingest.communicate()
        assert ingest.returncode == 0, err.decode()[-2000:]

    with Store(db) as store:
        held, spec = store.load_trades("BTCUSDT", 0, 2_000_000_000_000)
    assert len(held) == len(reference)
    for row, ref in zip(held, reference, strict=True):
        assert int(row["agg_id"]) == int(ref["agg_trade_id"])
        assert (int(row["first_id"]), int(row["last_id"])) == (
            int(ref["first_trade_id"]),
            int(ref["last_trade_id"]),
        )
        assert int(row["time"]) == int(ref["transact_time"])
        assert Decimal(str(spec.ticks_to_price(int(row["price"])))) == Decimal(ref["price"])
        assert int(row["qty"]) == int(Decimal(ref["quantity"]) / Decimal(spec.step_size))
        assert bool(row["buyer_maker"]) == (ref["is_buyer_maker"] == "true")
