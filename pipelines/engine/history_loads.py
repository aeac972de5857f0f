"""Shared history loads: one REST load per contract and range, whoever asks for it.

Every browser session that opens a contract asks for its recent history; the first request
starts a load and the others get the same one. Loads of one contract run one after another
(each walks back from what the one before it left), so a request for a range an earlier or
running load already covers returns that load instead of asking REST again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from pipelines.engine.backfill import HistoryError, HistoryLoader, LoadProgress

log = logging.getLogger(__name__)


@dataclass(slots=True)
class HistoryLoad:
    """A load in progress or done: `progress` to show, `task` to await or cancel."""

    progress: LoadProgress
    task: asyncio.Task

    @property
    def done(self) -> bool:
        return self.task.done()

    def cancel(self) -> None:
        self.task.cancel()

    async def wait(self) -> LoadProgress:
        with contextlib.suppress(asyncio.CancelledError, HistoryError):
            await asyncio.shield(self.task)
        return self.progress


class HistoryLoads:
    def __init__(self, loader: HistoryLoader) -> None:
        self.loader = loader
        self._loads: dict[str, list[HistoryLoad]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def request(self, symbol: str, start_ms: int, end_ms: int | None = None) -> HistoryLoad:
        """A load of [start_ms, end_ms) of `symbol`: an existing one that covers it, or new."""
        for load in self._loads.get(symbol, []):
            same_end = load.progress.end_ms is None or load.progress.end_ms == end_ms
            failed = load.done and (load.task.cancelled() or load.progress.error)
            if load.progress.start_ms <= start_ms and same_end and not failed:
                return load
        progress = LoadProgress(symbol, start_ms, end_ms)
        task = asyncio.get_running_loop().create_task(self._run(progress), name=f"history-{symbol}")
        load = HistoryLoad(progress, task)
        self._loads.setdefault(symbol, []).append(load)
        return load

    def running(self) -> list[HistoryLoad]:
        return [load for loads in self._loads.values() for load in loads if not load.done]

    def latest(self, symbol: str) -> HistoryLoad | None:
        loads = self._loads.get(symbol)
        return loads[-1] if loads else None

    async def _run(self, progress: LoadProgress) -> LoadProgress:
        lock = self._locks.setdefault(progress.symbol, asyncio.Lock())
        async with lock:
            try:
                return await self.loader.load(progress)
            except HistoryError:
                log.error("history load failed: %s", progress.error)
                raise

    async def stop(self) -> None:
        tasks = [load.task for load in self.running()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, HistoryError):
                await task
