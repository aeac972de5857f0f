"""Minute profiles and bars against a naive per-trade accumulation."""

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.records.batch import EngineBatch
from pipelines.records.dtypes import TRADE_DTYPE
from pipelines.storage.minutes import minute_rows
from pipelines.storage.schema import connect
from pipelines.storage.writer import StoreWriter
from tests.storage.synth import T0, naive_minutes, registry, stored_minutes, symbol_ids


@st.composite
def trade_sets(draw, max_symbols: int = 3, max_trades: int = 120) -> np.ndarray:
    """Trades of a few symbols: increasing ids, non-decreasing times over a few minutes."""
    parts = []
    for sym in range(draw(st.integers(1, max_symbols))):
        n = draw(st.integers(1, max_trades))
        gaps = draw(st.lists(st.integers(0, 20_000), min_size=n, max_size=n))
        t = np.zeros(n, dtype=TRADE_DTYPE)
        t["sym"] = sym
        t["agg_id"] = draw(st.integers(1, 10**9)) + np.arange(n)
        t["first_id"] = t["agg_id"]
        t["last_id"] = t["agg_id"]
        t["time"] = T0 + draw(st.integers(0, 59_999)) + np.cumsum(gaps)
        t["price"] = draw(st.lists(st.integers(90, 110), min_size=n, max_size=n))
        t["qty"] = draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n))
        t["buyer_maker"] = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        parts.append(t)
    return np.concatenate(parts)


def as_dicts(profile: np.ndarray, bars: np.ndarray) -> tuple[dict, dict]:
    return (
        {tuple(r[:3]): r[3:] for r in profile.tolist()},
        {tuple(r[:2]): r[2:] for r in bars.tolist()},
    )


@given(trade_sets(), st.randoms(use_true_random=False))
@settings(max_examples=150, deadline=None)
def test_minute_rows_equal_naive_accumulation(trades: np.ndarray, rnd) -> None:
    shuffled = trades[rnd.sample(range(len(trades)), len(trades))]  # order within a symbol
    shuffled = shuffled[np.argsort(shuffled["sym"], kind="stable")]  # is irrelevant
    profile, bars = minute_rows(shuffled["sym"].astype(np.int64), shuffled)
    assert as_dicts(profile, bars) == naive_minutes(trades)


@given(trade_sets(), st.lists(st.integers(0, 10_000), max_size=6), st.booleans())
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_stored_minutes_equal_naive_across_batches(tmp_path_factory, trades, cuts, reverse) -> None:
    """Trades split into batches (minutes spanning batches are upserted piecewise, added).

    With `reverse` the batches arrive last-first: earlier pieces of a minute fill in below
    what is stored (all within the raw window, so they are verified against the table).
    """
    path = tmp_path_factory.mktemp("minutes") / "store.db"
    trades = trades[np.lexsort((trades["agg_id"], trades["time"]))]
    bounds = sorted({c % (len(trades) + 1) for c in cuts} | {0, len(trades)})
    pieces = [trades[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    if reverse:
        pieces = pieces[::-1]
    reg = registry()
    clock = lambda: T0  # noqa: E731
    with StoreWriter(path, reg, commit_interval_s=0.0, clock=clock) as writer:
        for k, piece in enumerate(pieces):
            writer.submit(EngineBatch(seq=k, created_ms=0, trades=piece))
            assert writer.flush(10)  # one transaction per piece
        status = writer.status()
    assert status.trades_written == len(trades)
    conn = connect(path)
    got = stored_minutes(conn, symbol_ids(conn), reg)
    assert got == naive_minutes(trades)
    conn.close()
