"""Signals in the store: submitted SIGNAL_DTYPE rows come back exactly, once, on the stored grid
through a grid change, are pruned with the minute rows, and export as `signal_frame` of them."""

from __future__ import annotations

import argparse
import sqlite3
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.signals import KINDS, SIDES, SIGNAL_COLUMNS, SIGNAL_DTYPE, signal_frame
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.cli import main
from pipelines.records.timeunits import HOUR_MS, MINUTE_MS
from pipelines.storage import cli
from pipelines.storage.retention import Pruner, Retention
from pipelines.storage.schema import SCHEMA_VERSION, connect
from pipelines.storage.store import Store, UnknownSymbolError
from pipelines.storage.writer import StoreWriter
from tests.storage.synth import (
    SIGNALS_SPAN_MS,
    SIGNALS_START,
    batch,
    by_symbol,
    make_signals,
    registry,
)

START, SPAN_MS = SIGNALS_START, SIGNALS_SPAN_MS


def write(path: Path, reg: SymbolRegistry, *parts: np.ndarray) -> StoreWriter:
    # The writer's clock sits at the data, so its own pruning never touches it.
    with StoreWriter(path, reg, clock=lambda: START, commit_interval_s=0.0) as writer:
        for rows in parts:
            writer.submit_signals(rows)
        assert writer.flush(10)
    return writer


def test_round_trip_gives_the_submitted_rows(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    reg = registry()
    rows = make_signals(400)
    with StoreWriter(path, reg, clock=lambda: START, commit_interval_s=0.0) as writer:
        writer.submit(batch(0, n_symbols=1))  # BTCUSDT stored first, by a trade batch
        assert writer.flush(10)
        writer.submit_signals(rows[rows["sym"] == 3])  # then XAUUSDT: stored ids differ
        assert writer.flush(10)
        writer.submit_signals(rows)
        assert writer.flush(10)
    with Store(path) as store:
        got, stored = store.load_signals(START, START + SPAN_MS)
        assert got.dtype == SIGNAL_DTYPE
        assert stored.symbols[:2] == ["BTCUSDT", "XAUUSDT"]  # not the writer's order
        assert by_symbol(got, stored) == by_symbol(rows, reg)
        assert np.all(np.diff(got["bar_time"]) >= 0)  # oldest bar first

        # Half-open range on the bar open, and a symbol filter by name.
        lo, hi = START + HOUR_MS, START + 2 * HOUR_MS
        part, stored = store.load_signals(lo, hi, symbols=["ETHUSDT", "DOGEUSDT"])
        want = rows[
            (rows["bar_time"] >= lo) & (rows["bar_time"] < hi) & np.isin(rows["sym"], [1, 2])
        ]
        assert len(want) > 10 and by_symbol(part, stored) == by_symbol(want, reg)
        one, stored = store.load_signals(lo, hi, "ETHUSDT")
        assert by_symbol(one, stored) == by_symbol(want[want["sym"] == 1], reg)
        with pytest.raises(UnknownSymbolError, match="NOPEUSDT"):
            store.load_signals(lo, hi, ["NOPEUSDT"])

        # The readable view: the output schema, as `signal_frame` makes it from the rows.
        view = pd.read_sql_query(
            "SELECT * FROM signals ORDER BY symbol, bar_time, timeframe, kind, side, price_low",
            sqlite3.connect(path),
        )
    want = signal_frame(rows, reg).sort_values(
        ["symbol", "bar_time", "timeframe", "kind", "side", "price_low"], ignore_index=True
    )
    assert list(view.columns) == list(SIGNAL_COLUMNS)
    pd.testing.assert_frame_equal(view, want, check_exact=True)


def test_a_resubmitted_signal_is_written_once(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    reg = registry()
    rows = make_signals(100)
    writer = write(path, reg, rows, rows, rows[:30])
    assert writer.status().rows_written == len(rows)  # the repeats were ignored
    changed = rows[:10].copy()
    changed["volume"] += 1  # same key: still the signal stored first
    writer = write(path, reg, changed, rows)
    assert writer.status().rows_written == 0
    with Store(path) as store:
        got, stored = store.load_signals(START, START + SPAN_MS)
    assert by_symbol(got, stored) == by_symbol(rows, reg)


def test_bad_submissions_are_refused_in_the_caller(tmp_path: Path) -> None:
    reg = registry()
    rows = make_signals(5)
    with StoreWriter(tmp_path / "store.db", reg, commit_interval_s=0.0) as writer:
        frame = pd.DataFrame({name: rows[name] for name in SIGNAL_DTYPE.names})
        with pytest.raises(ValueError, match=r"lack the columns \['strength'\]"):
            writer.submit_signals(frame.drop(columns="strength"))
        bad = rows.copy()
        bad["sym"][0] = len(reg)
        with pytest.raises(ValueError, match="not in the registry"):
            writer.submit_signals(bad)
        bad = rows.copy()
        bad["kind"][1] = len(KINDS)
        with pytest.raises(ValueError, match="kind indices"):
            writer.submit_signals(bad)
        writer.submit_signals(frame)  # a frame with the fields is taken as well
        assert writer.flush(10)
    with Store(tmp_path / "store.db") as store:
        got, stored = store.load_signals(START, START + SPAN_MS)
    assert by_symbol(got, stored) == by_symbol(rows, reg)


def test_a_grid_change_keeps_every_signal_price_exact(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    old_reg = SymbolRegistry([ContractSpec("BTCUSDT", "0.10", "0.001")])
    new_reg = SymbolRegistry([ContractSpec("BTCUSDT", "0.25", "0.002")])
    old, new = make_signals(50, seed=1, n_symbols=1), make_signals(50, seed=2, n_symbols=1)
    new["low_ticks"] += 1_000_000  # other keys than the old rows
    new["high_ticks"] += 1_000_000
    write(path, old_reg, old)
    write(path, new_reg, new)  # rescales the stored rows to tick 0.05, step 0.001
    with Store(path) as store:
        assert (store.spec("BTCUSDT").tick_size, store.spec("BTCUSDT").step_size) == (
            "0.05",
            "0.001",
        )
        frame = store.load_signals_frame(START, START + SPAN_MS)
    # The reference: every value as a Decimal of the grid it was submitted on.
    want = []
    for rows, tick, step in ((old, "0.10", "0.001"), (new, "0.25", "0.002")):
        for r in rows:
            want.append(
                (
                    int(r["bar_time"]), int(r["tf_ms"]), KINDS[r["kind"]], SIDES[r["side"]],
                    float(int(r["low_ticks"]) * Decimal(tick)),
                    float(int(r["high_ticks"]) * Decimal(tick)),
                    float(int(r["volume"]) * Decimal(step)),
                    float(int(r["notional"]) * Decimal(tick) * Decimal(step)),
                    int(r["levels"]),
                )
            )  # fmt: skip
    cols = ["bar_time", "timeframe", "kind", "side", "price_low", "price_high", "volume",
            "notional", "levels"]  # fmt: skip
    got = sorted(frame[cols].itertuples(index=False, name=None))
    tf = {MINUTE_MS: "1m", 5 * MINUTE_MS: "5m", 15 * MINUTE_MS: "15m"}
    want = sorted((w[0], tf[w[1]], *w[2:]) for w in want)
    assert len(got) == 100
    assert got == want  # each float the double nearest its decimal


def test_retention_prunes_signals_with_their_minutes(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    reg = registry()
    rows = make_signals(600)
    write(path, reg, rows)
    now = START + 5 * HOUR_MS + 7 * MINUTE_MS
    conn = connect(path)
    pruner = Pruner(
        conn,
        Retention(trades_ms=HOUR_MS, minutes_ms=3 * HOUR_MS, chunk_rows=9),
        clock=lambda: now,
    )
    pruner.run_pass()
    conn.close()
    cutoff = (now - 3 * HOUR_MS) // MINUTE_MS * MINUTE_MS
    # A bar goes once all of it is older than the cutoff: a 15m bar straddling it stays.
    kept = rows[rows["bar_time"] + rows["tf_ms"] > cutoff]
    assert 0 < len(kept) < len(rows)
    assert pruner.pruned["signals"] == len(rows) - len(kept)
    with Store(path) as store:
        got, stored = store.load_signals(0, START + SPAN_MS)
    assert by_symbol(got, stored) == by_symbol(kept, reg)


# ---------------------------------------------------------------- export


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["export", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> tuple[Path, np.ndarray]:
    path = tmp_path_factory.mktemp("signals") / "store.db"
    rows = make_signals(500)
    write(path, registry(), rows)
    return path, rows


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_signals_export_is_signal_frame_of_the_submitted_rows(
    filled, tmp_path: Path, fmt: str, capsys
) -> None:
    path, rows = filled
    start, end = START + HOUR_MS + 30 * MINUTE_MS, START + 4 * HOUR_MS
    out = tmp_path / f"eth-signals.{fmt}"
    assert run("--symbol", "ETHUSDT", "--start", str(start), "--end", str(end), "--what",
               "signals", "--out", str(out), "--db", str(path)) == 0  # fmt: skip
    got = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    mine = rows[(rows["sym"] == 1) & (rows["bar_time"] >= start) & (rows["bar_time"] < end)]
    order = np.lexsort([mine[k] for k in ("low_ticks", "side", "kind", "tf_ms", "bar_time")])
    want = signal_frame(mine[order], registry())
    assert len(want) > 20 and list(got.columns) == list(SIGNAL_COLUMNS)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=True)
    assert f"wrote {len(want)} signals of ETHUSDT to {out}" in capsys.readouterr().out


def test_signals_export_errors_are_one_line(filled, tmp_path: Path, capsys) -> None:
    path, _ = filled

    def export(*argv: str) -> list[str]:
        code = main(["export", "--what", "signals", "--start", str(START), "--end",
                     str(START + HOUR_MS), "--out", str(tmp_path / "s.csv"), *argv])  # fmt: skip
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert code == 2 and len(err) == 1 and "Traceback" not in err[0], err
        return err[0]

    assert "'NOPEUSDT' is not in the store" in export("--symbol", "NOPEUSDT", "--db", str(path))
    assert "no database at" in export("--symbol", "BTCUSDT", "--db", str(tmp_path / "none.db"))
    assert "ISO-8601" in export("--symbol", "BTCUSDT", "--db", str(path), "--start", "soon")
    assert "must be after --start" in export(
        "--symbol", "BTCUSDT", "--db", str(path), "--end", str(START)
    )
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"trader notes, not a database\n" * 40)
    assert "not an SQLite database" in export("--symbol", "BTCUSDT", "--db", str(junk))
    newer = tmp_path / "newer.db"
    connect(newer).close()
    raw = sqlite3.connect(newer)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    assert "newer than this code knows" in export("--symbol", "BTCUSDT", "--db", str(newer))
    assert not (tmp_path / "s.csv").exists()
