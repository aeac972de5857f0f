"""Live health of the engine, as the UI header and the logs show it."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.engine.connection import ConnectionStatus
from pipelines.engine.warmup import WarmupProgress


@dataclass(slots=True)
class EngineStatus:
    running: bool
    symbols: int  # contracts tracked now
    streams: int
    connections: list[ConnectionStatus] = field(default_factory=list)
    connections_up: int = 0
    frames_per_s: float = 0.0
    trades_per_s: float = 0.0
    lag_ms: float | None = None  # now - event time of the newest trade frame
    latency_p50_ms: float | None = None  # frame receipt -> batch visible to consumers
    latency_p99_ms: float | None = None
    gaps_found: int = 0
    gaps_filled: int = 0
    gaps_open: int = 0
    gaps_abandoned: int = 0
    trades_missing: int = 0
    duplicates: int = 0
    rejected_frames: int = 0
    filtered_rows: int = 0
    rest_weight_used: int = 0
    rest_throttled: int = 0
    trades_held: int = 0  # waiting behind an open gap
    buffer_trades: int = 0
    buffer_bytes: int = 0
    batches: int = 0
    trades_taken: int = 0  # released to the consumers since start, exactly once
    last_error: str = ""
    store_fault: str = ""  # "disk full", "unavailable: ..."; empty while the store writes
    store_waiting: int = 0  # trades not in the store yet (in memory or owed for backfill)
    warmup: WarmupProgress | None = None  # minute history from klines; None when off

    @property
    def connected(self) -> bool:
        return self.running and self.connections_up == len(self.connections) > 0
