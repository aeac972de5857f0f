"""`research signals` over the generated archive: the signals of `signals_from_profile` with the
day before as warm-up, follow-through returns against a naive last-trade lookup, the CLI's
--bin and `all`, reruns, and the follow-through record against a naive groupby."""

from __future__ import annotations

import bisect
import datetime as dt
import math
import shutil
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipelines.analytics.profile import profile_from_records
from pipelines.analytics.signals import (
    DIRECTION,
    SIGNAL_COLUMNS,
    SignalRules,
    signal_frame,
    signals_from_profile,
)
from pipelines.analytics.tradeframe import frame_records, in_trade_order
from pipelines.binance.registry import SymbolRegistry
from pipelines.cli import main
from pipelines.research.dataset import (
    file_metadata,
    partition_path,
    read_dataset,
    write_partition,
)
from pipelines.research.record import RECORD_COLUMNS, signal_record
from pipelines.research.runner import client_for, run
from pipelines.research.signal_day import HORIZONS_MIN, SCHEMA, day_signals
from pipelines.research.sources import ArchiveSource, DayTrades
from tests.research.archive import over_the_day
from tests.research.scenario import DAY_MS, DAYS, END, SKIP, START, SYMBOLS

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")

ONE = dt.timedelta(days=1)
OWN = [c for c in SIGNAL_COLUMNS if c != "symbol"]  # the partition key is not in the file
FOLLOW = [*HORIZONS_MIN, "direction"]


def _day_ms(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * DAY_MS


def _in_range() -> list[tuple[str, dt.date]]:
    return [(s, d) for s in SYMBOLS for d in DAYS if START <= d <= END and (s, d) not in SKIP]


def _expected(frames: dict, symbol: str, day: dt.date, bin_ticks: int | None = None,
              warm_up: bool = True) -> pd.DataFrame:  # fmt: skip
    """signals_from_profile over the day's trades, the day before first (when there)."""
    days = [d for d in ((day - ONE) if warm_up else None, day) if (symbol, d) in frames]
    frame = pd.concat([frames[(symbol, d)] for d in days], ignore_index=True)
    spec, records = frame_records(frame, symbol=symbol)
    profile = profile_from_records(in_trade_order(records), spec)
    rows, _ = signals_from_profile(
        profile, rules=SignalRules(bin_ticks=bin_ticks), emit_from=_day_ms(day)
    )
    return signal_frame(rows, SymbolRegistry([spec]))


def _bar_end(signals: pd.DataFrame) -> pd.Series:
    return signals["bar_time"] + signals["timeframe"].str[:-1].astype(int) * 60_000


def _part(out: Path, symbol: str, day: dt.date) -> pd.DataFrame:
    return pd.read_parquet(partition_path(out, "signals", symbol, day))


def _same_signals(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        got[OWN].astype({c: object for c in ("timeframe", "kind", "side")}),
        expected[OWN],
        check_dtype=False,
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_signals_are_signals_from_profile_with_the_day_before_as_warm_up(
    archive, signal_outputs, workers
):
    _, frames = archive
    differs = 0
    for symbol, day in _in_range():
        got = _part(signal_outputs[workers], symbol, day)
        expected = _expected(frames, symbol, day)
        assert len(expected) > 50
        _same_signals(got, expected)
        kinds = zip(got["kind"], got["side"], strict=True)
        assert got["direction"].tolist() == [DIRECTION[k] for k in kinds]
        cold = _expected(frames, symbol, day, warm_up=False)
        differs += len(cold) != len(expected) or not cold[OWN].equals(expected[OWN])
    assert differs > 0  # the warm-up does change the day's first signals
    # ETHUSDT's day before DAYS[2] has no file: that day starts cold.
    meta = file_metadata(partition_path(signal_outputs[workers], "signals", "ETHUSDT", DAYS[2]))
    assert (meta["warm_up_day"], meta["next_day"], meta["bin"]) == ("false", "true", "auto")


def test_the_dataset_reads_back_with_the_export_columns(signal_outputs):
    frame = read_dataset(signal_outputs[1], "signals").compute()
    assert list(frame.columns) == [*SIGNAL_COLUMNS, *FOLLOW, "date"]
    assert len(frame) == sum(len(_part(signal_outputs[1], s, d)) for s, d in _in_range())


def _naive_returns(frames: dict, symbol: str, day: dt.date, got: pd.DataFrame) -> dict:
    """close_at(t) = the last trade before t, over the day and the next day (plain Python)."""
    read = [frames[(symbol, d)] for d in (day, day + ONE) if (symbol, d) in frames]
    times = [int(t) for f in read for t in f["transact_time"]]
    prices = [Fraction(Decimal(repr(float(p)))) for f in read for p in f["price"]]
    assert times == sorted(times)

    def close_at(t: int) -> Fraction:
        return prices[bisect.bisect_left(times, t) - 1]

    out = defaultdict(list)
    for end in _bar_end(got):
        for name, minutes in HORIZONS_MIN.items():
            at = end + minutes * 60_000
            reached = times[-1] >= at  # a trade at or after `at` was read
            out[name].append(float(close_at(at) / close_at(end) - 1) if reached else math.nan)
    return out


def test_returns_equal_a_naive_last_trade_lookup_and_are_nan_past_the_data(archive, signal_outputs):
    _, frames = archive
    for symbol, day in _in_range():
        got = _part(signal_outputs[1], symbol, day)
        naive = _naive_returns(frames, symbol, day, got)
        for name in HORIZONS_MIN:
            np.testing.assert_array_equal(got[name].to_numpy(), naive[name], err_msg=name)
    # Signals within the hour before the day's last trade: with the next day in the archive
    # they have every return, without it (DAYS[3]) their 60-minute return is NaN.
    for day, known in ((DAYS[2], True), (DAYS[3], False)):
        got = _part(signal_outputs[1], "BTCUSDT", day)
        last_trade = int(frames[("BTCUSDT", day)]["transact_time"].max())
        late = _bar_end(got) > last_trade - 3_600_000
        assert late.sum() > 10
        assert got.loc[late, "return_60m"].notna().all() == known
        assert got.loc[~late, list(HORIZONS_MIN)].notna().all().all()


def test_a_rerun_computes_only_missing_signal_partitions(archive, signal_outputs, tmp_path):
    root, frames = archive
    out = tmp_path / "out"
    shutil.copytree(signal_outputs[1], out)
    victim = partition_path(out, "signals", "ADAUSDT", DAYS[2])
    before = victim.read_bytes()
    kept = partition_path(out, "signals", "BTCUSDT", DAYS[2])
    kept_mtime = kept.stat().st_mtime_ns
    victim.unlink()
    with client_for(workers=1) as client:
        report = run(client, ArchiveSource(str(root)), ["signals"], SYMBOLS, START, END, str(out))
    # That contract-day, and ETHUSDT's day without a file (looked up again).
    assert report.errors == [] and report.tasks == 2 and report.skipped == len(_in_range()) - 1
    assert report.trades == len(frames[("ADAUSDT", DAYS[2])])
    assert victim.read_bytes() == before
    assert kept.stat().st_mtime_ns == kept_mtime


def _cli(root: Path, out: Path, *extra: str, symbols: str = "BTCUSDT") -> list[str]:
    return ["research", "signals", "--archive", str(root), "--symbols", symbols,
            "--start", str(START), "--end", str(START), "--out", str(out), "--quiet", *extra]  # fmt: skip


def test_bin_is_honoured_recorded_and_checked(archive, tmp_path, capsys):
    root, frames = archive
    out = tmp_path / "out"
    assert main(_cli(root, out, "--bin", "3")) == 0
    got = _part(out, "BTCUSDT", START)
    assert set(got["bin_ticks"]) == {3}
    assert file_metadata(partition_path(out, "signals", "BTCUSDT", START))["bin"] == "3"
    _same_signals(got, _expected(frames, "BTCUSDT", START, bin_ticks=3))
    capsys.readouterr()
    # Another bin into the same dataset is refused in one line.
    assert main(_cli(root, out, "--end", str(END))) == 2
    err = capsys.readouterr().err.strip()
    assert "holds signals at bin 3, not auto" in err and "\n" not in err


@pytest.mark.parametrize("bad", ["0", "-2", "1.5", "x", ""])
def test_a_bad_bin_is_one_line(archive, tmp_path, capsys, bad):
    root, _ = archive
    assert main(_cli(root, tmp_path / "out", "--bin", bad)) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"orderflow research: --bin must be a positive whole number of ticks, got {bad!r}"
    assert not (tmp_path / "out").exists()


def test_all_means_every_contract_of_a_local_mirror(archive, tmp_path, capsys):
    root, _ = archive
    out = tmp_path / "out"
    # ETHUSDT has no file on START: with `all` that is no error.
    assert main(_cli(root, out, symbols="all")) == 0
    written = sorted(p.parent.parent.name for p in (out / "signals").glob("*/*/part.parquet"))
    assert written == ["symbol=ADAUSDT", "symbol=BTCUSDT"]
    capsys.readouterr()
    assert main(_cli("https://data.binance.vision", tmp_path / "o2", symbols="all")) == 2
    err = capsys.readouterr().err.strip()
    assert "needs a local mirror or the store (--db)" in err and "\n" not in err


def _naive_record(out: Path) -> dict:
    groups: dict = defaultdict(list)
    for path in sorted((out / "signals").glob("symbol=*/date=*/part.parquet")):
        symbol = path.parent.parent.name.removeprefix("symbol=")
        for row in pd.read_parquet(path).to_dict("records"):
            groups[(symbol, row["timeframe"], row["kind"], row["side"])].append(row)
    record = {}
    for key, rows in groups.items():
        stats = {"direction": rows[0]["direction"], "count": len(rows)}
        for name in HORIZONS_MIN:
            h = name.removeprefix("return_")
            known = [r[name] for r in rows if not math.isnan(r[name])]
            stats[f"mean_{name}"] = sum(known) / len(known) if known else math.nan
            stats[f"median_{name}"] = float(np.median(known)) if known else math.nan
            direction = rows[0]["direction"]
            hits = [(r > 0) - (r < 0) == direction for r in known]
            stats[f"hit_rate_{h}"] = sum(hits) / len(hits) if hits and direction else math.nan
        record[key] = stats
    return record


def test_signal_record_equals_a_naive_groupby(signal_outputs):
    out = signal_outputs[1]
    record = signal_record(out)
    assert list(record.columns) == list(RECORD_COLUMNS)
    naive = _naive_record(out)
    assert len(record) == len(naive)
    for row in record.to_dict("records"):
        expected = naive[(row["symbol"], row["timeframe"], row["kind"], row["side"])]
        for column, value in expected.items():
            np.testing.assert_allclose(row[column], value, rtol=1e-12, err_msg=column)
    assert record["hit_rate_5m"].notna().any() and record["hit_rate_60m"].isna().any()
    # Filters give the same rows as the whole record.
    part = signal_record(out, symbols=["BTCUSDT"], timeframes=["5m"])
    whole = record[(record["symbol"] == "BTCUSDT") & (record["timeframe"] == "5m")]
    pd.testing.assert_frame_equal(part, whole.reset_index(drop=True))
    assert record["timeframe"].drop_duplicates().tolist() == ["1m", "5m", "15m"]


def _whole_day(frame: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    return frame.assign(transact_time=over_the_day(frame["transact_time"], _day_ms(day)))


def _trades(frame: pd.DataFrame, day: dt.date) -> DayTrades:
    spec, records = frame_records(frame, symbol="BTCUSDT")
    return DayTrades("BTCUSDT", day, in_trade_order(records), spec)


def test_days_on_different_grids_and_the_next_days_first_hour(archive):
    """A day before on a coarser grid (whole prices), a next day on a finer one than the day's,
    and trades up to midnight: the day's last bars take their returns from the next day."""
    _, frames = archive
    day = DAYS[2]
    local = {
        ("BTCUSDT", day - ONE): frames[("BTCUSDT", day - ONE)].assign(
            price=lambda f: f["price"].round(0)
        ),
        ("BTCUSDT", day): frames[("BTCUSDT", day)],
        ("BTCUSDT", day + ONE): frames[("BTCUSDT", day + ONE)].assign(
            price=lambda f: (f["price"] + 0.01).round(2)
        ),
    }
    local = {(s, d): _whole_day(f, d) for (s, d), f in local.items()}
    before, today, after = (_trades(local[("BTCUSDT", d)], d) for d in (day - ONE, day, day + ONE))
    assert (before.spec.tick_size, after.spec.tick_size) == ("1.000000000000", "0.010000000000")
    got, spec = day_signals(today, before, after)
    assert spec.tick_size == "0.1"
    _same_signals(got, _expected(local, "BTCUSDT", day))
    naive = _naive_returns(local, "BTCUSDT", day, got)
    for name in HORIZONS_MIN:
        np.testing.assert_array_equal(got[name].to_numpy(), naive[name], err_msg=name)
    late = _bar_end(got) + 60 * 60_000 > _day_ms(day) + DAY_MS
    assert late.sum() > 10 and got.loc[late, "return_60m"].notna().all()
    alone, _ = day_signals(today, before)  # without the next day: NaN past the day's data
    assert alone.loc[late, "return_60m"].isna().all()
    pd.testing.assert_frame_equal(alone.drop(columns=list(HORIZONS_MIN)),
                                  got.drop(columns=list(HORIZONS_MIN)))  # fmt: skip


def test_a_day_without_signals_writes_a_typed_empty_partition(archive, tmp_path):
    _, frames = archive
    one = _trades(frames[("BTCUSDT", DAYS[1])].iloc[:1], DAYS[1])  # one trade: no signal
    frame, _ = day_signals(one)
    assert len(frame) == 0 and list(frame.columns) == OWN + FOLLOW
    path = write_partition(frame, tmp_path, "signals", "BTCUSDT", DAYS[1], schema=SCHEMA)
    assert pq.read_schema(path).remove_metadata() == SCHEMA  # not pyarrow's untyped `null`
    back = read_dataset(tmp_path, "signals").compute()
    assert list(back.columns) == [*SIGNAL_COLUMNS, *FOLLOW, "date"] and len(back) == 0
