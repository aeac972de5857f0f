"""TradeBuffer: its counts kept as it goes equal a recount of what it holds, and trimming by
retention keeps exactly the trades inside the window."""

from __future__ import annotations

import numpy as np

from pipelines.engine.buffer import TradeBuffer
from pipelines.records.dtypes import TRADE_DTYPE


def _trades(sym: np.ndarray, time_ms: np.ndarray, first_id: int = 1) -> np.ndarray:
    out = np.zeros(len(sym), dtype=TRADE_DTYPE)
    out["sym"], out["time"] = sym, time_ms
    out["agg_id"] = first_id + np.arange(len(sym))
    return out


def test_counts_and_retention_match_a_recount() -> None:
    rng = np.random.default_rng(7)
    buffer = TradeBuffer(retention_ms=10_000, initial_capacity=4)
    sent = []
    for step in range(300):
        n = int(rng.integers(0, 40))
        batch = _trades(rng.integers(0, 30, n), np.full(n, step * 100), first_id=step * 100)
        buffer.append(batch)
        sent.append(batch)
        held = [buffer.trades(s) for s in range(30)]
        assert len(buffer) == sum(len(h) for h in held)
        assert buffer.memory_bytes == sum(s.data.nbytes for s in buffer._symbols.values())
    everything = np.concatenate(sent)
    horizon = buffer.newest_ms - buffer.retention_ms
    for s in range(30):
        expected = everything[(everything["sym"] == s) & (everything["time"] >= horizon)]
        assert buffer.trades(s)["agg_id"].tolist() == expected["agg_id"].tolist()
    assert buffer.trimmed == len(everything) - len(buffer)


def test_older_history_put_in_front_is_counted_and_trimmed() -> None:
    buffer = TradeBuffer(retention_ms=5_000, initial_capacity=4)
    buffer.append(_trades(np.zeros(3, np.int64), np.array([10_000, 10_100, 10_200]), 100))
    taken = buffer.prepend_history(0, _trades(np.zeros(4, np.int64), np.arange(4) * 2_000 + 4_000))
    assert taken == 3 and len(buffer) == 6  # 6 000 .. 10 000 are inside 5 s of 10 200
    buffer.append(_trades(np.zeros(1, np.int64), np.array([14_500]), 200))
    assert buffer.trades(0)["time"].tolist() == [10_000, 10_000, 10_100, 10_200, 14_500]
    assert len(buffer) == 5 and buffer.trimmed == 2
    assert buffer.memory_bytes == sum(s.data.nbytes for s in buffer._symbols.values())
