"""SIGKILL mid-stream, restart: the store's trades equal the stand-in's ground truth exactly."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys

import pandas as pd
import pytest

from pipelines.standin.server import StandIn

pytestmark = pytest.mark.slow


async def ingest(exchange: StandIn, db: str, duration: float) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pipelines.cli", "--log-level", "WARNING", "ingest",
        "--rest-url", exchange.rest_url, "--ws-url", exchange.ws_url, "--db", db,
        "--duration", str(duration), "--reconcile", "--status-every", "1",
    )  # fmt: skip


async def test_sigkill_then_restart_leaves_no_hole_and_no_repeat(tmp_path):
    db = str(tmp_path / "orderflow.db")
    async with StandIn(symbols=16, rate=400, seed=21) as exchange:
        first = await ingest(exchange, db, 60)
        await asyncio.sleep(6)
        first.send_signal(signal.SIGKILL)  # no flush, no clean close
        assert await first.wait() == -signal.SIGKILL
        await asyncio.sleep(3)  # trades keep flowing while nothing listens

        second = await ingest(exchange, db, 9)
        await asyncio.sleep(6)
        exchange.pause()  # freeze the truth; the restart's reconcile fetches the tail
        assert await asyncio.wait_for(second.wait(), 60) == 0

        with sqlite3.connect(db) as conn:
            stored = pd.read_sql_query(
                "SELECT symbol, agg_trade_id, price, quantity, transact_time, is_buyer_maker "
                "FROM trades ORDER BY symbol, agg_trade_id",
                conn,
            )
        assert stored.duplicated(["symbol", "agg_trade_id"]).sum() == 0
        compared = 0
        for symbol, rows in stored.groupby("symbol"):
            truth = exchange.ground_truth(symbol)
            truth = truth[truth["agg_trade_id"] >= rows["agg_trade_id"].iloc[0]]
            assert rows["agg_trade_id"].tolist() == truth["agg_trade_id"].tolist(), symbol
            assert rows["transact_time"].tolist() == truth["transact_time"].tolist()
            assert [float(q) for q in rows["quantity"]] == [float(q) for q in truth["quantity"]]
            assert [float(p) for p in rows["price"]] == [float(p) for p in truth["price"]]
            assert (
                rows["is_buyer_maker"].astype(bool).tolist()
                == truth["is_buyer_maker"].astype(bool).tolist()
            )
            compared += len(rows)
        assert compared > 2000
