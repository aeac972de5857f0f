"""LocalBook: the futures sync rule, the band, never crossed; against the real capture."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.analytics.localbook import OPEN_HIGH, LocalBook, PushResult, SyncState
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.depth import DepthDiff, DepthSnapshot, parse_depth_diff, parse_depth_snapshot
from tests.analytics.book_reference import TOP, capture_events, reconstruct_seconds
from tests.samples import hftbacktest_frames

BTC = ContractSpec("BTCUSDT", "0.10", "0.001")


def _decimal_top(levels, spec: ContractSpec, top: int) -> tuple[list, list]:
    def side(rows: np.ndarray) -> list:
        return [
            (Decimal(int(p)) * Decimal(spec.tick_size), Decimal(int(q)) * Decimal(spec.step_size))
            for p, q in rows.tolist()
        ]

    return side(levels.bids[::-1][:top]), side(levels.asks[:top])


def test_capture_top_levels_equal_an_independent_decimal_reconstruction():
    snapshot, diffs = capture_events(hftbacktest_frames())
    expected = reconstruct_seconds(snapshot, diffs)
    seconds = {}
    crossed = []

    def record(end_ms, levels):
        seconds[end_ms] = _decimal_top(levels, BTC, TOP)

    book = LocalBook(on_second=record)
    results = []
    snapshot_at = 0
    for frame_index, event in enumerate(diffs):
        if frame_index == 4 and snapshot_at == 0:  # the capture's snapshot came after 4 events
            snapshot_at = frame_index
            results.append(book.apply_snapshot(parse_depth_snapshot(snapshot, BTC)))
        results.append(book.push(parse_depth_diff(event, BTC)))
        if book.crossed:
            crossed.append(frame_index)
    assert crossed == []
    assert book.resyncs == 0 and book.uncrossed == 0
    assert PushResult.OUT_OF_SYNC not in results
    assert len(expected) > 300  # the capture spans 345 s
    assert seconds.keys() == expected.keys()
    for end_ms, (bids, asks) in expected.items():
        assert seconds[end_ms] == (bids, asks), end_ms
    # Most seconds have 50 levels per side in the band (the comparison is not vacuous); the
    # rest are why the engine refreshes the snapshot (the capture has only one): the price
    # fell out of the band below and came back.
    full = [end for end, (b, a) in expected.items() if len(b) == len(a) == TOP]
    assert len(full) > 250
    assert min(len(a) for _, a in expected.values()) == TOP


def test_the_band_edge_is_flagged_before_the_price_leaves_the_band():
    snapshot, diffs = capture_events(hftbacktest_frames())
    book = LocalBook()
    flagged_at = left_at = None
    for i, event in enumerate(diffs):
        if i == 4:
            book.apply_snapshot(parse_depth_snapshot(snapshot, BTC))
        book.push(parse_depth_diff(event, BTC))
        if book.synced and flagged_at is None and book.near_band_edge():
            flagged_at = event["T"]
        if book.synced and left_at is None and book.best_bid is None:
            left_at = event["T"]
    assert flagged_at is not None and left_at is not None
    assert left_at - flagged_at > 10_000  # ample time to fetch a snapshot (weight 20)


def test_the_snapshot_is_matched_by_the_fifth_event_and_the_band_is_the_snapshots():
    snapshot, diffs = capture_events(hftbacktest_frames())
    book = LocalBook()
    for event in diffs[:5]:
        assert book.push(parse_depth_diff(event, BTC)) is PushResult.BUFFERED
    assert book.apply_snapshot(parse_depth_snapshot(snapshot, BTC)) is PushResult.APPLIED
    assert book.last_final_id == diffs[4]["u"]
    low = BTC.price_to_ticks(min(float(p) for p, _ in snapshot["bids"]))
    high = BTC.price_to_ticks(max(float(p) for p, _ in snapshot["asks"]))
    assert book.band == (int(low), int(high))
    # Levels outside the band never enter the book (they could never be corrected).
    far = {"e": "depthUpdate", "E": 1, "T": diffs[5]["T"], "s": "BTCUSDT", "U": diffs[5]["U"],
           "u": diffs[5]["u"], "pu": diffs[5]["pu"], "b": [["1000.00", "5.000"]],
           "a": [["99999.90", "0.000"]]}  # fmt: skip
    assert book.push(parse_depth_diff(far, BTC)) is PushResult.APPLIED
    assert 10000 not in book.bids


def _diff(u_first, u_last, pu, t, bids=(), asks=()):
    return DepthDiff("X", t, t, u_first, u_last, pu,
                     np.array(bids, np.int64).reshape(-1, 2), np.array(asks, np.int64).reshape(-1, 2))  # fmt: skip


def _snapshot(last_id, bids, asks):
    return DepthSnapshot(last_id, 0, np.array(bids, np.int64).reshape(-1, 2),
                         np.array(asks, np.int64).reshape(-1, 2))  # fmt: skip


def test_a_new_bid_over_a_stale_ask_drops_the_stale_ask():
    book = LocalBook()
    book.apply_snapshot(_snapshot(10, [(99, 1), (98, 1)], [(100, 1), (101, 1)]), limit=1000)
    assert book.band == (0, OPEN_HIGH)  # sides shorter than the limit are complete
    assert book.push(_diff(9, 11, 8, 1000, bids=[(100, 5)])) is PushResult.APPLIED
    assert book.best_bid == 100 and book.best_ask == 101 and not book.crossed
    assert book.uncrossed == 1


def test_a_snapshot_older_than_every_buffered_event_is_out_of_sync():
    book = LocalBook()
    book.push(_diff(20, 25, 19, 1000, bids=[(99, 1)]))
    assert book.apply_snapshot(_snapshot(10, [(99, 2)], [(100, 1)])) is PushResult.OUT_OF_SYNC
    assert book.state is SyncState.NEEDS_SNAPSHOT
    assert book.apply_snapshot(_snapshot(22, [(99, 2)], [(100, 1)])) is PushResult.APPLIED
    assert book.bids == {99: 1}


# ---------------------------------------------------------------- property: never a wrong book

PRICES = range(90, 111)


@st.composite
def true_books(draw):
    """A true book's events: (U, u, pu, T, bids, asks) and the book after each."""
    states, events = [], []
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    u = 1000
    for i in range(draw(st.integers(5, 40))):
        mid = draw(st.integers(95, 105))
        changes_b = {p: 0 for p in bids if p >= mid}
        changes_a = {p: 0 for p in asks if p < mid}
        for p in draw(st.lists(st.sampled_from(PRICES), max_size=6)):
            (changes_b if p < mid else changes_a)[p] = draw(st.integers(0, 3))
        for side, changes in ((bids, changes_b), (asks, changes_a)):
            for p, q in changes.items():
                if q:
                    side[p] = q
                else:
                    side.pop(p, None)
        first = u + draw(st.integers(1, 5))  # U jumps on futures
        last = first + draw(st.integers(0, 3))
        events.append((first, last, u, 1000 + i * draw(st.sampled_from([100, 400, 1200])),
                       sorted(changes_b.items()), sorted(changes_a.items())))  # fmt: skip
        u = last
        states.append((dict(bids), dict(asks)))
    return events, states


@st.composite
def deliveries(draw):
    events, states = draw(true_books())
    order = list(range(len(events)))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["drop", "duplicate", "swap"]))
        i = draw(st.integers(0, len(order) - 1))
        if kind == "drop" and len(order) > 1:
            order.pop(i)
        elif kind == "duplicate":
            order.insert(i, order[i])
        elif kind == "swap" and i + 1 < len(order):
            order[i], order[i + 1] = order[i + 1], order[i]
    snapshot_after = draw(st.integers(0, len(order) - 1))
    limit = draw(st.sampled_from([3, 1000]))
    return events, states, order, snapshot_after, limit


def _top(side: dict[int, int], n: int, highest: bool) -> list:
    return sorted(side.items(), reverse=highest)[:n]


@settings(max_examples=300, deadline=None)
@given(deliveries())
def test_under_drops_duplicates_and_reorders_the_book_is_never_wrong(case):
    events, states, order, snapshot_after, limit = case
    book = LocalBook()
    newest = -1
    breaks_seen = 0
    for position, index in enumerate(order):
        first, last, pu, t, b, a = events[index]
        newest = max(newest, index)
        result = book.push(_diff(first, last, pu, t, b, a))
        if result is PushResult.OUT_OF_SYNC:
            breaks_seen += 1
        if book.state is not SyncState.SYNCED and position >= snapshot_after:
            # The manager's answer to a break: a snapshot of the true book as of now.
            bids, asks = states[newest]
            book.apply_snapshot(
                _snapshot(events[newest][1], _top(bids, limit, True), _top(asks, limit, False)),
                limit=limit,
            )
        assert not book.crossed
        if book.synced:
            applied = next(i for i, e in enumerate(events) if e[1] == book.last_final_id)
            true_bids, true_asks = states[applied]
            low, high = book.band
            assert book.bids == {p: q for p, q in true_bids.items() if low <= p <= high}
            assert book.asks == {p: q for p, q in true_asks.items() if low <= p <= high}
    delivered = [events[i][1] for i in order]
    skipped = [e[1] for e in events if e[1] not in delivered]
    if book.synced and skipped and max(skipped) < book.last_final_id:
        # A lost event after the sync point shows as a break: the book resynced past it.
        applied_from = events[order[min(snapshot_after, len(order) - 1)]][1]
        if any(s > applied_from for s in skipped):
            assert breaks_seen > 0
