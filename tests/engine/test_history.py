"""A footprint reaching behind the raw buffer equals one rebuilt from all the original trades."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.footprint import FootprintRules, footprint_from_records
from pipelines.engine.service import Engine, EngineConfig
from pipelines.storage.writer import StoreWriter
from tests.storage.synth import GRIDS, T0, batch, registry


@pytest.fixture
def engine_with_history(tmp_path):
    """3 h of trades in the store; the engine's buffer keeps only the newest ~40 minutes."""
    db = str(tmp_path / "orderflow.db")
    batches = [batch(k, per_symbol=20, step_ms=10_000) for k in range(3 * 360)]
    with StoreWriter(db, registry()) as writer:
        for b in batches:
            writer.submit(b)
        assert writer.flush(30)
    return engine_over(batches, db), np.concatenate([b.trades for b in batches])


def engine_over(batches, db: str | None) -> Engine:
    engine = Engine(EngineConfig(db_path=db, buffer_retention_s=40 * 60))
    for i in range(len(GRIDS)):
        engine.registry.add(registry().spec(i))
    for b in batches:
        engine.buffer.append(b.trades)
    return engine


@pytest.mark.parametrize(("bin_ticks", "timeframe"), [(1, "1m"), (3, "5m"), (10, "15m"), (7, "1h")])
def test_footprint_from_store_and_buffer_equals_rebuild_from_trades(
    engine_with_history, bin_ticks, timeframe
):
    engine, trades = engine_with_history
    symbol = GRIDS[0][0]
    spec = engine.registry.spec(symbol)
    mine = trades[trades["sym"] == 0]
    first_held = engine.buffer.coverage(0)[0]
    assert first_held > T0 + 2 * 3600_000  # most of the range is only in the store
    rules = FootprintRules.make(spec, price_bin_ticks=bin_ticks, timeframe=timeframe)
    end = T0 + 3 * 3600_000
    got = engine.footprint(symbol, T0, end, rules)
    expected = footprint_from_records(mine, spec, rules)
    pd.testing.assert_frame_equal(
        got.bars.reset_index(drop=True), expected.bars.reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(
        got.levels.reset_index(drop=True), expected.levels.reset_index(drop=True)
    )
    assert got.levels["bid_volume"].sum() + got.levels["ask_volume"].sum() == pytest.approx(
        float(mine["qty"].sum()) * spec.step
    )


def test_without_a_store_the_buffer_is_all_there_is():
    engine = engine_over([batch(k, per_symbol=20, step_ms=10_000) for k in range(3 * 360)], None)
    spec = engine.registry.spec(0)
    rules = FootprintRules.make(spec, price_bin_ticks=1, timeframe="1m")
    got = engine.footprint(spec.symbol, T0, T0 + 3 * 3600_000, rules)
    assert got.bars["bar_time"].min() >= engine.buffer.coverage(0)[0] // 60_000 * 60_000
