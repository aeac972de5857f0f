"""A real capture's book through the whole platform: the hftbacktest BTCUSDT capture replayed by
the stand-in (`orderflow simulate --replay`, in-process, 20x), an `Engine` keeping a book of
BTCUSDT with a store, then `orderflow export --what book --format csv` over the replayed span.
At every second exported, the top 50 levels per side equal a plain-Python Decimal
reconstruction from the capture's own snapshot and real-time diffs (tests/analytics/
book_reference.py), and no second's book is crossed.
"""

from __future__ import annotations

import asyncio
import csv
from decimal import Decimal
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.engine.service import Engine, EngineConfig
from pipelines.standin.server import StandIn
from pipelines.storage.store import Store
from tests.analytics.book_reference import TOP, capture_events, reconstruct_seconds
from tests.samples import hftbacktest_frames, sample

pytestmark = pytest.mark.slow

CAPTURE = "hftbacktest_usdm_btcusdt_20240808.gz"
SPEED = 20.0  # the 345 s capture in about 20 s (pauses over 5 s are cut to 5 s as well)
GUARD_S = 120  # only against a hang: the test waits on the replay's progress


def _exported(path: Path) -> dict[int, tuple[list, list]]:
    """{second end: (bids best first, asks best first)} of the CSV, as Decimal text."""
    out: dict[int, tuple[list, list]] = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            bids, asks = out.setdefault(int(row["time"]), ([], []))
            level = (Decimal(row["price"]), Decimal(row["quantity"]))
            (bids if row["side"] == "bid" else asks).append(level)
    return out


@pytest.mark.timeout(240)
async def test_the_exported_book_of_a_replayed_capture_equals_a_decimal_reconstruction(
    tmp_path: Path,
) -> None:
    db = tmp_path / "store.sqlite"
    async with StandIn(replay=sample(CAPTURE), speed=SPEED, hold=True) as exchange:
        config = EngineConfig(rest_url=exchange.rest_url, ws_url=exchange.ws_url, warm_hours=0,
                              signals=False, books=("BTCUSDT",), db_path=str(db))  # fmt: skip
        async with Engine(config) as engine:
            books = engine.order_books
            loop = asyncio.get_running_loop()
            deadline = loop.time() + GUARD_S
            while not exchange.stats()["replay"]["done"]:
                assert loop.time() < deadline, "the replay never finished"
                await asyncio.sleep(0.25)
            await asyncio.sleep(0.5)  # the last frames reach the book
            snapshots, resyncs, rejected = books.snapshots, books.resyncs, books.rejections.total
            uncrossed = books._books["BTCUSDT"].book.uncrossed
            assert await asyncio.to_thread(engine.writer.flush, 10)
    assert rejected == 0 and resyncs == 0 and uncrossed == 0
    assert snapshots >= 2  # the first sync, and refreshes as the price left the band

    with Store(db) as store:
        states, spec = store.load_book("BTCUSDT", 0, 2**62)
    assert spec is not None and len(states) > 200
    first, last = states[0][0], states[-1][0]
    out = tmp_path / "book.csv"
    args = ["export", "--what", "book", "--symbol", "BTCUSDT", "--format", "csv",
            "--start", str(first), "--end", str(last + 1), "--db", str(db), "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    exported = _exported(out)

    # The reference: the capture's snapshot and its @depth@0ms diffs (not the @100ms events the
    # engine read), the whole book within the snapshot's lowest bid .. highest ask, at every
    # second's end.
    snapshot, diffs = capture_events(hftbacktest_frames())
    expected = reconstruct_seconds(snapshot, diffs, top=10**6)
    tick = Decimal(spec.tick_size)
    snap_low = min(Decimal(p) for p, _ in snapshot["bids"])
    snap_high = max(Decimal(p) for p, _ in snapshot["asks"])

    # Which seconds: every second the engine recorded, from its first synced second (it
    # subscribes and takes its snapshot some seconds into the replay) to the last second the
    # capture closed; none missing in between (no resync, refreshes swap without a gap).
    assert list(exported) == [t for t, _ in states]
    assert list(exported) == [t for t in expected if first <= t <= last]
    assert last == max(expected)
    # Where: both books restricted to the levels both know are whole, the engine's band (its
    # latest snapshot's, stored with each second) within the capture snapshot's. Outside the
    # capture's snapshot nobody knows the resting levels: the replay's REST depth is that
    # snapshot plus the diffs, so a refreshed band reaching past it holds only the levels the
    # diffs touched there, and the reference none at all.
    full = crossed = 0
    for (time, levels), (bids, asks) in zip(states, exported.values(), strict=True):
        band_low, band_high = levels.band
        low = max(snap_low, band_low * tick)
        high = snap_high if band_high >= 2**62 else min(snap_high, band_high * tick)
        ref_bids, ref_asks = expected[time]

        def top(side: list, low: Decimal = low, high: Decimal = high) -> list:
            return [(p, q) for p, q in side if low <= p <= high][:TOP]

        assert top(bids) == top(ref_bids), time
        assert top(asks) == top(ref_asks), time
        full += len(top(bids)) == len(top(asks)) == TOP
        crossed += bool(bids and asks and bids[0][0] >= asks[0][0])
    assert crossed == 0
    # Not vacuous: most seconds have 50 levels a side in the band (in the others the price fell
    # below the capture snapshot's band, as in tests/analytics/test_localbook.py).
    assert len(exported) > 300 and full > 250
