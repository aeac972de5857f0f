"""SIGTERM mid-stream is a clean stop: `simulate --truth` keeps every trade it sent in its truth
file, `ingest` stores every trade the engine had taken, and both exit 0."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.standin.truth import read_truth

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def command(*args: str, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "w")  # noqa: SIM115 - the process owns it until it exits
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )


def stored(db: Path) -> dict[str, list[int]]:
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT s.symbol, t.agg_trade_id FROM trade_rows t JOIN symbols s ON s.id = t.sym_id "
        "ORDER BY s.symbol, t.agg_trade_id"
    ).fetchall()
    conn.close()
    out: dict[str, list[int]] = {}
    for symbol, agg in rows:
        out.setdefault(symbol, []).append(agg)
    return out


def test_sigterm_flushes_the_truth_file_and_the_store(tmp_path: Path) -> None:
    truth_path, db = tmp_path / "truth.csv", tmp_path / "store.db"
    sim = command(
        "simulate", "--port", "0", "--symbols", "20", "--rate", "800", "--seed", "3",
        "--truth", str(truth_path), log_path=tmp_path / "simulate.log",
    )  # fmt: skip
    try:
        urls = dict(re.findall(r"(rest|ws): (\S+)", sim.stdout.readline()))
        ingest = command(
            "ingest", "--rest-url", urls["rest"], "--ws-url", urls["ws"], "--db", str(db),
            "--status-every", "1", "--no-depth", log_path=tmp_path / "ingest.log",
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while "ingesting" not in (tmp_path / "ingest.log").read_text():
                assert ingest.poll() is None, (tmp_path / "ingest.log").read_text()
                assert time.monotonic() < deadline, "ingest did not start"
                time.sleep(0.1)
            time.sleep(4)  # trades flowing; the truth file's periodic flush lags behind
            sim.send_signal(signal.SIGTERM)  # the exchange stops while the client receives
            assert sim.wait(30) == 0
            time.sleep(0.5)
            ingest.send_signal(signal.SIGTERM)
            assert ingest.wait(60) == 0
        finally:
            ingest.kill()
    finally:
        sim.kill()

    log = (tmp_path / "ingest.log").read_text()
    taken, written = map(
        int, re.search(r"stopped: (\d+) trades taken, (\d+) written", log).groups()
    )
    held = stored(db)
    assert taken > 2000 and written == taken == sum(len(ids) for ids in held.values())
    # Every trade the client received is in the truth file, and the truth has no hole where
    # the client's run of ids lies.
    truth = read_truth(truth_path)
    for symbol, ids in held.items():
        sent = truth.loc[truth["symbol"] == symbol, "agg_trade_id"]
        assert set(ids) <= set(sent), symbol
        assert ids == sent[(sent >= ids[0]) & (sent <= ids[-1])].tolist(), symbol
    assert "Traceback" not in log
    assert "SIGTERM: stopping cleanly" in (tmp_path / "simulate.log").read_text()
