"""`orderflow export`: files equal the source trades; footprints equal build_footprint."""

import argparse
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.footprint import build_footprint
from pipelines.storage import cli
from pipelines.storage.export import parse_time
from pipelines.storage.retention import HOUR_MS, Pruner, Retention
from pipelines.storage.schema import connect
from pipelines.storage.writer import StoreWriter
from tests.storage.synth import T0, batch, decimal_price, decimal_qty, registry

STEP_MS = 5_000
N_BATCHES = 48  # four minutes


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> tuple[Path, np.ndarray]:
    path = tmp_path_factory.mktemp("export") / "store.db"
    batches = [batch(k, per_symbol=40, step_ms=STEP_MS) for k in range(N_BATCHES)]
    with StoreWriter(path, registry(), clock=lambda: T0, commit_interval_s=0.0) as writer:
        for b in batches:
            writer.submit(b)
    return path, np.concatenate([b.trades for b in batches])


def source_frame(trades: np.ndarray, sym: int, start: int, end: int) -> pd.DataFrame:
    """The expected rows, from the integers through Decimal (independent of the store)."""
    spec = registry().spec(sym)
    t = trades[(trades["sym"] == sym) & (trades["time"] >= start) & (trades["time"] < end)]
    return pd.DataFrame(
        {
            "agg_trade_id": t["agg_id"],
            "price": [float(decimal_price(spec, p)) for p in t["price"]],
            "quantity": [float(decimal_qty(spec, q)) for q in t["qty"]],
            "first_trade_id": t["first_id"],
            "last_trade_id": t["last_id"],
            "transact_time": t["time"],
            "is_buyer_maker": t["buyer_maker"],
        }
    )


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["export", *argv])
    return args.func(args)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_trades_export_round_trip(filled, tmp_path: Path, fmt: str, capsys) -> None:
    path, trades = filled
    start, end = T0 + 7_000, T0 + 150_000
    out = tmp_path / f"eth.{fmt}"
    assert run("--symbol", "ETHUSDT", "--start", str(start), "--end", str(end),
               "--format", fmt, "--out", str(out), "--db", str(path)) == 0  # fmt: skip
    got = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    want = source_frame(trades, 1, start, end)
    assert len(want) > 100
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=True)
    assert f"wrote {len(want)} trades" in capsys.readouterr().out
    if fmt == "csv":  # the text is the exact decimal
        text = out.read_text().splitlines()[1].split(",")
        eth = trades[(trades["sym"] == 1) & (trades["time"] >= start)]
        assert Decimal(text[1]) == decimal_price(registry().spec(1), eth["price"][0])


def test_iso_times() -> None:
    assert parse_time("2025-07-31T22:13:20Z") == 1_754_000_000_000 == T0
    assert parse_time("2025-07-31 22:13:20") == T0
    assert parse_time("2025-08-01T00:13:20+02:00") == T0
    assert parse_time(str(T0)) == T0
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_time("yesterday")


def test_footprint_export_from_trades_then_from_profiles(filled, tmp_path: Path, capsys) -> None:
    path, trades = filled
    spec = registry().spec(0)
    start, end = T0, T0 + 4 * 60_000
    src = source_frame(trades, 0, start, end)
    want = build_footprint(src, tick_size=spec.tick_size, step_size=spec.step_size,
                           price_bin_ticks=5, timeframe="3m")  # fmt: skip
    args = ("--symbol", "BTCUSDT", "--start", "2025-07-31T22:13:20Z", "--end", str(end),
            "--what", "footprint", "--bin", "5", "--timeframe", "3m", "--db", str(path))  # fmt: skip
    assert run(*args, "--out", str(tmp_path / "fp.parquet")) == 0
    assert "built from trades" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "fp.levels.parquet"), want.levels)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "fp.bars.parquet"), want.bars)

    # Raw trades pruned: the same footprint comes from the minute profiles.
    pruned = tmp_path / "pruned.db"
    pruned.write_bytes(path.read_bytes())
    conn = connect(pruned)
    Pruner(conn, Retention(trades_ms=HOUR_MS, minutes_ms=1000 * HOUR_MS),
           clock=lambda: T0 + 2 * HOUR_MS).run_pass()  # fmt: skip
    assert conn.execute("SELECT count(*) FROM trade_rows").fetchone()[0] == 0
    conn.close()
    args = (*args[:-1], str(pruned))
    assert run(*args, "--out", str(tmp_path / "fp2.csv")) == 0
    assert "built from minute profiles" in capsys.readouterr().out
    for part in ("bars", "levels"):
        got = pd.read_csv(tmp_path / f"fp2.{part}.csv")
        pd.testing.assert_frame_equal(got, getattr(want, part), check_exact=True)


def test_clear_errors_and_exit_code_2(filled, tmp_path: Path, capsys) -> None:
    path, _ = filled
    base = ("--start", str(T0), "--end", str(T0 + 60_000), "--out", str(tmp_path / "x.csv"))
    assert run("--symbol", "BTCUSDT", *base, "--db", str(tmp_path / "absent.db")) == 2
    err = capsys.readouterr().err
    assert "no database at" in err and "Traceback" not in err
    assert not (tmp_path / "absent.db").exists()
    assert run("--symbol", "NOPEUSDT", *base, "--db", str(path)) == 2
    assert "'NOPEUSDT' is not in the store" in capsys.readouterr().err
    assert run("--symbol", "BTCUSDT", "--start", "soon", "--end", "1", "--out", "x.csv",
               "--db", str(path)) == 2  # fmt: skip
    assert "ISO-8601" in capsys.readouterr().err
    assert run("--symbol", "BTCUSDT", *base[:4], "--out", str(tmp_path / "x.xlsx"),
               "--db", str(path)) == 2  # fmt: skip
    assert "unknown export format" in capsys.readouterr().err
    assert run("--symbol", "BTCUSDT", *base, "--db", str(path), "--what", "footprint",
               "--bin", "0") == 2  # fmt: skip
    assert "price_bin_ticks" in capsys.readouterr().err
