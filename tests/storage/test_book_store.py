"""Book history in the store: the seconds written come back as they were (also after a
restart), are pruned with the trades, and export per second, side and level; the capture's
exported top 50 levels per side equal an independent Decimal reconstruction."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.bookhistory import BookSecondsRecorder, book_raster, replay
from pipelines.analytics.localbook import BookLevels, LocalBook
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.depth import parse_depth_diff, parse_depth_snapshot
from pipelines.binance.registry import SymbolRegistry
from pipelines.cli import main
from pipelines.records.timeunits import HOUR_MS
from pipelines.storage.book_rows import book_row, decode_levels, encode_levels
from pipelines.storage.export import BOOK_COLUMNS
from pipelines.storage.retention import Pruner, Retention
from pipelines.storage.schema import connect
from pipelines.storage.store import Store, UnknownSymbolError
from pipelines.storage.writer import StoreWriter
from tests.analytics.book_reference import TOP, capture_events, reconstruct_seconds
from tests.samples import hftbacktest_frames

BTC = ContractSpec("BTCUSDT", "0.10", "0.001")


def capture_seconds(keyframe_s: int = 60) -> list[tuple[int, BookLevels]]:
    """The capture's book at every second end, from LocalBook."""
    snapshot, diffs = capture_events(hftbacktest_frames())
    states: list[tuple[int, BookLevels]] = []
    book = LocalBook(on_second=lambda t, levels: states.append((t, levels)))
    for i, event in enumerate(diffs):
        if i == 4:
            book.apply_snapshot(parse_depth_snapshot(snapshot, BTC))
        book.push(parse_depth_diff(event, BTC))
    return states


@pytest.fixture(scope="module")
def capture_store(tmp_path_factory) -> tuple[Path, list[tuple[int, BookLevels]]]:
    path = tmp_path_factory.mktemp("book") / "store.db"
    states = capture_seconds()
    recorder = BookSecondsRecorder(keyframe_s=60)
    rows = [book_row("BTCUSDT", BTC, recorder.record(t, levels)) for t, levels in states]
    start = states[0][0]
    with StoreWriter(path, SymbolRegistry([BTC]), clock=lambda: start) as writer:
        for i in range(0, len(rows), 50):
            writer.submit_book_seconds(rows[i : i + 50])
        assert writer.flush(30)
    return path, states


def test_levels_codec_round_trips():
    bids = np.array([[5, 1], [900, 2**40], [901, 7]], np.int64)
    asks = np.zeros((0, 2), np.int64)
    got = decode_levels(encode_levels(bids, asks))
    assert np.array_equal(got[0], bids) and np.array_equal(got[1], asks)


def test_round_trip_and_restart_give_every_second_as_recorded(capture_store):
    path, states = capture_store
    start, end = states[0][0], states[-1][0] + 1
    with Store(path) as store:  # a new reader: what a restarted engine sees
        got, spec = store.load_book("BTCUSDT", start, end)
        middle, _ = store.load_book("BTCUSDT", start + 90_500, start + 200_000)
    assert spec == BTC
    assert [t for t, _ in got] == [t for t, _ in states]
    for (_, a), (_, b) in zip(got, states, strict=True):
        assert np.array_equal(a.bids, b.bids) and np.array_equal(a.asks, b.asks)
        assert a.band == b.band
    # A read starting between keyframes replays from the keyframe before it.
    assert [t for t, _ in middle] == [t for t, _ in states if start + 90_500 <= t < start + 200_000]
    assert all(np.array_equal(a.bids, dict(states)[t].bids) for t, a in middle)


def test_store_holds_change_sets_not_copies(capture_store):
    path, states = capture_store
    conn = connect(path, readonly=True)
    keyframes, rows, size = conn.execute(
        "SELECT sum(keyframe), count(*), sum(length(levels)) FROM book_seconds"
    ).fetchone()
    conn.close()
    assert rows == len(states) and keyframes <= len(states) // 60 + 2
    full = sum(len(s.bids) + len(s.asks) for _, s in states) * 16
    assert size < full / 20  # a whole copy every second would be 20x larger at least


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_top_levels_equal_the_decimal_reconstruction(capture_store, tmp_path, fmt):
    path, states = capture_store
    out = tmp_path / f"book.{fmt}"
    start, end = states[0][0], states[-1][0] + 1
    code = main(["export", "--what", "book", "--symbol", "BTCUSDT", "--start", str(start),
                 "--end", str(end), "--db", str(path), "--out", str(out)])  # fmt: skip
    assert code == 0
    frame = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    assert tuple(frame.columns) == BOOK_COLUMNS
    assert frame["time"].nunique() == len(states)
    snapshot, diffs = capture_events(hftbacktest_frames())
    expected = reconstruct_seconds(snapshot, diffs)
    assert set(frame["time"]) == set(expected)
    for time, group in frame.groupby("time"):
        bids = group[group["side"] == "bid"]
        asks = group[group["side"] == "ask"]
        assert list(bids["price"]) == sorted(bids["price"], reverse=True)
        want_bids, want_asks = expected[time]
        for got, want in ((bids.head(TOP), want_bids), (asks.head(TOP), want_asks)):
            assert [(float(p), float(q)) for p, q in want] == list(
                zip(got["price"], got["quantity"], strict=True)
            )
            # The floats are the decimals' nearest doubles: their shortest text is the decimal.
            assert [Decimal(repr(p)) for p in got["price"]] == [p for p, _ in want]
        if len(bids) and len(asks):
            assert bids["price"].max() < asks["price"].min()


def test_export_of_an_unknown_symbol_is_one_line(capture_store, tmp_path, capsys):
    path, _ = capture_store
    code = main(["export", "--what", "book", "--symbol", "NOPEUSDT", "--start", "0", "--end",
                 "1", "--db", str(path), "--out", str(tmp_path / "x.csv")])  # fmt: skip
    assert code == 2
    assert "NOPEUSDT" in capsys.readouterr().err
    with Store(path) as store, pytest.raises(UnknownSymbolError):
        store.load_book("NOPEUSDT", 0, 1)


def test_a_missing_second_is_a_gap_until_the_next_keyframe():
    states = capture_seconds()[:200]
    recorder = BookSecondsRecorder(keyframe_s=60)
    seconds = [recorder.record(t, levels) for t, levels in states]
    kept = [s for i, s in enumerate(seconds) if i != 30]  # one second lost
    times = [t for t, _ in replay(kept)]
    lost = seconds[30].time
    next_key = next(s.time for s in seconds[31:] if s.keyframe)
    assert lost not in times
    assert not [t for t in times if lost < t < next_key]
    assert set(times) == {t for t, _ in states if t < lost or t >= next_key}
    # ... and a raster shows those buckets as not covered.
    raster = book_raster(replay(kept), states[0][0] - 1000, states[-1][0], 10_000,
                         states[0][1].band[0], states[0][1].band[1], ticks_per_row=10)  # fmt: skip
    assert not raster.covered.all() and raster.covered.any()


def test_retention_prunes_book_seconds_with_the_trades(capture_store, tmp_path):
    source, states = capture_store
    path = tmp_path / "copy.db"
    path.write_bytes(source.read_bytes())
    cutoff = states[100][0]
    conn = connect(path)
    Pruner(
        conn, Retention(trades_ms=HOUR_MS, chunk_rows=7), clock=lambda: cutoff + HOUR_MS
    ).run_pass()
    left = conn.execute("SELECT min(time), count(*) FROM book_seconds").fetchone()
    conn.close()
    assert left == (cutoff, len(states) - 100)
