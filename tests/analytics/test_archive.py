"""read_agg_trades_csv on the real files, headerless and zipped copies, and malformed input."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from pipelines.binance.archive import read_agg_trades_csv
from tests.samples import sample

REAL_6_ROWS = "BTCUSDT-aggTrades-2025-10-22_first6rows_data.binance.vision.csv"
APPROX_CSV = "DERIVED_APPROX_BTCUSDT-aggTrades-2024-08-08_2354-0000UTC_from_ws_trade.csv"


def test_real_file_with_header():
    frame = read_agg_trades_csv(sample(REAL_6_ROWS))
    lines = sample(REAL_6_ROWS).read_text().splitlines()[1:]
    assert len(frame) == len(lines) == 6
    for row, line in zip(frame.itertuples(), lines, strict=True):
        a, p, q, f, last, t, m = line.split(",")
        assert (row.agg_trade_id, row.first_trade_id, row.last_trade_id, row.transact_time) == (
            int(a), int(f), int(last), int(t),
        )  # fmt: skip
        assert (row.price, row.quantity) == (float(p), float(q))
        assert row.is_buyer_maker == (m == "true")
    assert frame["is_buyer_maker"].dtype == bool


def test_headerless_uppercase_flags_and_zip(tmp_path):
    text = sample(REAL_6_ROWS).read_text()
    body = "\n".join(text.splitlines()[1:]).replace("true", "True").replace("false", "FALSE")
    plain = tmp_path / "BTCUSDT-aggTrades-2021-01-01.csv"
    plain.write_text(body + "\n")
    expected = read_agg_trades_csv(sample(REAL_6_ROWS))
    got = read_agg_trades_csv(plain)
    assert got.equals(expected)
    packed = tmp_path / "BTCUSDT-aggTrades-2021-01-01.zip"
    with zipfile.ZipFile(packed, "w") as archive:
        archive.write(plain, plain.name)
    assert read_agg_trades_csv(packed).equals(expected)


def test_large_derived_file():
    frame = read_agg_trades_csv(sample(APPROX_CSV))
    assert len(frame) == 10_447
    assert np.all(np.diff(frame["transact_time"]) >= 0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("1,2.0,3.0,4,5,6,maybe\n", "is_buyer_maker"),
        ("1,2.0,3.0,4,5\n", "expected 7"),
        ("agg_trade_id,price\n1,2.0\n", "missing"),
        ("1,abc,3.0,4,5,6,true\n", "numeric"),
    ],
)
def test_malformed_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        read_agg_trades_csv(path)
    assert "bad.csv" in str(info.value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert read_agg_trades_csv(path).empty
