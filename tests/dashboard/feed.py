"""A synthetic trade feed for view tests: EngineBatches pushed through an unstarted Engine."""

from __future__ import annotations

import numpy as np

from pipelines.binance.contracts import ContractSpec
from pipelines.engine.service import Engine
from pipelines.records.batch import EngineBatch
from pipelines.records.dtypes import LIQUIDATION_DTYPE, TRADE_DTYPE

SPECS = (
    ContractSpec("BTCUSDT", "0.10", "0.001"),
    ContractSpec("ETHUSDT", "0.01", "0.001"),
    ContractSpec("SOLUSDT", "0.0100", "1"),
)


class Feed:
    """Random-walk trades for SPECS; `batch(now_ms, n)` makes one micro-batch."""

    def __init__(self, engine: Engine, seed: int = 1) -> None:
        self.engine = engine
        self.rng = np.random.default_rng(seed)
        for spec in SPECS:
            engine.registry.add(spec)
        engine.sequencer.ensure_capacity(len(engine.registry))
        self.price = np.array([650_000, 300_000, 15_000], dtype=np.int64)  # ticks
        self.next_id = np.ones(len(SPECS), dtype=np.int64)
        self.seq = 0

    def trades(self, start_ms: int, end_ms: int, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=TRADE_DTYPE)
        sym = self.rng.integers(0, len(SPECS), n)
        out["sym"] = sym
        out["time"] = np.sort(self.rng.integers(start_ms, end_ms, n))
        for s in range(len(SPECS)):
            rows = np.flatnonzero(sym == s)
            steps = self.rng.integers(-3, 4, len(rows))
            out["price"][rows] = self.price[s] + np.cumsum(steps)
            if len(rows):
                self.price[s] = out["price"][rows[-1]]
            out["agg_id"][rows] = self.next_id[s] + np.arange(len(rows))
            self.next_id[s] += len(rows)
        out["first_id"] = out["agg_id"]
        out["last_id"] = out["agg_id"]
        out["qty"] = self.rng.integers(1, 2_000, n)
        out["buyer_maker"] = self.rng.random(n) < 0.5
        out["event_time"] = out["time"]
        return out

    def liquidations(self, time_ms: int, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=LIQUIDATION_DTYPE)
        out["sym"] = self.rng.integers(0, len(SPECS), n)
        out["time"] = out["event_time"] = time_ms
        out["long_liquidated"] = self.rng.random(n) < 0.5
        out["price"] = 100.0 + self.rng.random(n)
        out["qty"] = self.rng.integers(1, 500, n).astype(float)
        out["notional"] = out["price"] * out["qty"]
        return out

    async def push(self, trades: np.ndarray, liquidations: np.ndarray | None = None) -> EngineBatch:
        self.seq += 1
        batch = EngineBatch(
            seq=self.seq, created_ms=int(trades["time"].max()) if len(trades) else 0, trades=trades
        )
        if liquidations is not None:
            batch.liquidations = liquidations
        await self.engine.source.emit(batch)
        return batch
