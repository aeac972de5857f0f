"""The sequencer against a naive reference: a set of ids per symbol and sorted(set(...))."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.engine.sequencer import TradeSequencer
from pipelines.records.dtypes import TRADE_DTYPE


def trades(pairs: list[tuple[int, int]]) -> np.ndarray:
    out = np.zeros(len(pairs), dtype=TRADE_DTYPE)
    for i, (sym, agg_id) in enumerate(pairs):
        out[i]["sym"], out[i]["agg_id"], out[i]["qty"] = sym, agg_id, agg_id * 7 + sym
    return out


def ids_by_symbol(released: list[np.ndarray]) -> dict[int, list[int]]:
    allr = np.concatenate(released) if released else np.zeros(0, dtype=TRADE_DTYPE)
    return {int(s): allr["agg_id"][allr["sym"] == s].tolist() for s in np.unique(allr["sym"])}


def test_duplicates_dropped_and_order_restored():
    seq = TradeSequencer()
    out = [
        seq.push(trades([(0, 10), (1, 5), (0, 11)])),
        seq.push(trades([(0, 11), (0, 12), (1, 5)])),
    ]
    assert ids_by_symbol(out) == {0: [10, 11, 12], 1: [5]}
    assert seq.stats.duplicates == 2 and not seq.gaps


def test_gap_holds_back_until_filled():
    seq = TradeSequencer()
    first = seq.push(trades([(0, 1), (0, 2), (0, 5), (0, 6), (1, 1)]))
    assert ids_by_symbol([first]) == {0: [1, 2], 1: [1]}
    [gap] = seq.missing()
    assert (gap.sym, gap.from_id, gap.to_id) == (0, 3, 4)
    later = seq.push(trades([(0, 7), (1, 2)]))  # symbol 0 still held, symbol 1 flows
    assert ids_by_symbol([later]) == {1: [2]}
    filled = seq.fill(trades([(0, 3), (0, 4), (0, 5)]))
    assert ids_by_symbol([filled]) == {0: [3, 4, 5, 6, 7]}
    assert (seq.stats.gaps_found, seq.stats.gaps_filled, seq.pending_trades) == (1, 1, 0)


def test_partial_fill_keeps_one_gap_and_abandon_reports_missing():
    seq = TradeSequencer()
    seq.push(trades([(0, 1), (0, 10)]))
    out = seq.fill(trades([(0, 2), (0, 3)]))
    assert out["agg_id"].tolist() == [2, 3]
    [gap] = seq.missing()
    assert (gap.from_id, gap.to_id, seq.stats.gaps_found) == (4, 9, 1)
    released = seq.abandon(0)
    assert released["agg_id"].tolist() == [10]
    assert (seq.stats.gaps_abandoned, seq.stats.trades_missing) == (1, 6)


def test_resume_from_stored_ids_detects_the_downtime_gap():
    seq = TradeSequencer()
    seq.resume_from({3: 100})
    assert len(seq.push(trades([(3, 100), (3, 105)]))) == 0
    [gap] = seq.missing()
    assert (gap.sym, gap.from_id, gap.to_id) == (3, 101, 104)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40)), min_size=1, max_size=200),
    st.lists(st.integers(1, 30), min_size=1, max_size=10),
    st.randoms(use_true_random=False),
)
def test_any_delivery_order_releases_exactly_once(deliveries, cuts, rnd):
    """Frames arrive shuffled, repeated and split at random; a final REST fill covers holes.

    Reference: per symbol, every id from the lowest one of the first batch that carried the
    symbol (where its sequence starts) to the highest id delivered.
    """
    seq = TradeSequencer()
    bounds = np.cumsum([0, *cuts, len(deliveries)]).clip(max=len(deliveries))
    chunks = [deliveries[a:b] for a, b in itertools.pairwise(bounds)]
    start: dict[int, int] = {}
    released = []
    for chunk in chunks:
        for sym in {s for s, _ in chunk} - set(start):
            start[sym] = min(i for s, i in chunk if s == sym)
        released.append(seq.push(trades(chunk)))
    # Backfill: REST answers every id from the gap start to the highest id seen.
    while seq.missing():
        gap = seq.missing()[0]
        hole = range(gap.from_id, gap.to_id + 1)
        released.append(seq.fill(trades([(gap.sym, i) for i in rnd.sample(hole, len(hole))])))
    got = ids_by_symbol(released)
    for sym in {s for s, _ in deliveries}:
        highest = max(i for s, i in deliveries if s == sym)
        assert got[sym] == list(range(start[sym], highest + 1))
    assert not seq.missing() and seq.pending_trades == 0
    allr = np.concatenate(released)
    assert np.array_equal(allr["qty"], allr["agg_id"] * 7 + allr["sym"])  # rows stay intact
