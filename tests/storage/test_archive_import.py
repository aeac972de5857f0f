"""`orderflow backfill --archive`: a data.binance.vision-layout directory into the store.

The directory is the stand-in's archive of its generated past, downloaded file by file; one
file is rewritten without its header row (as Binance's files before 2022-08 are), one keeps a
wrong CHECKSUM. References are the CSV rows themselves, read with the csv module and Decimal.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import zipfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.footprint import (
    FootprintRules,
    footprint_from_profile_rules,
    footprint_from_records,
)
from pipelines.binance import vision
from pipelines.cli import main
from pipelines.records.dtypes import TRADE_DTYPE
from pipelines.records.timeunits import DAY_MS
from pipelines.standin.server import StandIn
from pipelines.storage.store import Store

pytestmark = pytest.mark.slow


def day_ms(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * DAY_MS


def csv_rows(path: Path) -> list[list[str]]:
    with zipfile.ZipFile(path) as zf:
        text = zf.read(zf.namelist()[0]).decode()
    rows = list(csv.reader(io.StringIO(text)))
    return rows[1:] if rows and rows[0][0] == "agg_trade_id" else rows


def rewrite(path: Path, lines: list[list[str]], *, header: bool, checksum_ok: bool) -> None:
    out = io.StringIO()
    if header:
        out.write(
            "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,"
            "is_buyer_maker\n"
        )
    csv.writer(out, lineterminator="\n").writerows(lines)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.name.replace(".zip", ".csv"), out.getvalue())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not checksum_ok:
        digest = digest[::-1]
    path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}\n")


@pytest.fixture
async def mirror(tmp_path_factory) -> tuple[Path, list[str], list[dt.date]]:
    """2 contracts x 2 complete days of the stand-in's past, in the archive layout."""
    root = tmp_path_factory.mktemp("vision")
    async with StandIn(symbols=5, rate=6.0, seed=11, history_s=3 * 86_400) as ex:
        first = dt.datetime.fromtimestamp(ex.market.past.start_ms / 1000, dt.UTC).date()
        days = [first + dt.timedelta(days=1), first + dt.timedelta(days=2)]
        symbols = ex.market.symbols[1:3]
        for symbol in symbols:
            for day in days:
                assert await vision.download_day(ex.rest_url, symbol, day, root) is not None
    return root, symbols, days


async def test_archive_import_equals_the_csv_rows_and_a_rerun_adds_nothing(
    mirror, tmp_path, capsys
) -> None:
    root, symbols, days = mirror
    path = {(s, d): root / vision.day_path(s, d) for s in symbols for d in days}
    no_header = path[(symbols[0], days[0])]
    bad = path[(symbols[1], days[1])]
    rewrite(no_header, csv_rows(no_header), header=False, checksum_ok=True)
    rewrite(bad, csv_rows(bad), header=True, checksum_ok=False)
    db = tmp_path / "orderflow.db"
    argv = ["backfill", "--archive", str(root), "--symbols", ",".join(symbols),
            "--start", days[0].isoformat(), "--end", days[1].isoformat(), "--db", str(db)]  # fmt: skip

    assert main(argv) == 1  # one file refused
    err = capsys.readouterr().err
    assert f"{bad.name}: refused" in err and "does not match CHECKSUM" in err
    assert "Traceback" not in err

    with Store(db) as store:
        for symbol in symbols:
            good = [d for d in days if path[(symbol, d)] != bad]
            rows = [r for d in good for r in csv_rows(path[(symbol, d)])]
            spec = store.spec(symbol)
            lo, hi = day_ms(good[0]), day_ms(good[-1]) + DAY_MS
            got = store.load_trades_frame(symbol, lo, hi)
            assert len(got) == len(rows) > 1000
            assert got["agg_trade_id"].tolist() == [int(r[0]) for r in rows]
            assert got["price"].tolist() == [float(Decimal(r[1])) for r in rows]
            assert got["quantity"].tolist() == [float(Decimal(r[2])) for r in rows]
            assert got["first_trade_id"].tolist() == [int(r[3]) for r in rows]
            assert got["last_trade_id"].tolist() == [int(r[4]) for r in rows]
            assert got["transact_time"].tolist() == [int(r[5]) for r in rows]
            assert got["is_buyer_maker"].tolist() == [r[6] == "true" for r in rows]
            assert store.trade_count(symbol) == len(rows)  # nothing of the refused file

            # The footprint from the stored 1-minute profiles equals one from the CSV rows.
            records = np.zeros(len(rows), TRADE_DTYPE)
            records["agg_id"] = [int(r[0]) for r in rows]
            records["time"] = [int(r[5]) for r in rows]
            records["price"] = [int(Decimal(r[1]) / Decimal(spec.tick_size)) for r in rows]
            records["qty"] = [int(Decimal(r[2]) / Decimal(spec.step_size)) for r in rows]
            records["buyer_maker"] = [r[6] == "true" for r in rows]
            rules = FootprintRules.make(spec, price_bin_ticks=3, timeframe="15m")
            got_fp = footprint_from_profile_rules(store.load_minute_profile(symbol, lo, hi), rules)
            expected = footprint_from_records(records, spec, rules)
            for part in ("bars", "levels"):
                pd.testing.assert_frame_equal(
                    getattr(got_fp, part).reset_index(drop=True),
                    getattr(expected, part).reset_index(drop=True),
                )
        before = store.trade_count()

    assert main(argv) == 1  # the bad file is refused again; the others are skipped
    out = capsys.readouterr().out
    assert "0 files imported, 3 already imported" in out and ", 0 new" in out
    with Store(db) as store:
        assert store.trade_count() == before
