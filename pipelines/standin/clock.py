"""Time source of the stand-in: wall-clock by default, or a manual clock that tests move by hand.

Everything time-driven in the stand-in (trade generation steps, stream pushes, REST weight
minutes, pings, connection lifetimes) reads and sleeps on one `Clock`, so a test can step the
whole exchange deterministically instead of waiting on real time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time


class Clock:
    """Real time: epoch milliseconds and `asyncio.sleep`."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep_until(self, deadline_ms: int) -> None:
        delay = deadline_ms - self.now_ms()
        await asyncio.sleep(max(delay, 0) / 1000.0)


class ManualClock(Clock):
    """A clock that only moves when `advance` is called; sleepers wake in deadline order."""

    def __init__(self, start_ms: int) -> None:
        self._now = int(start_ms)
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now_ms(self) -> int:
        return self._now

    async def sleep_until(self, deadline_ms: int) -> None:
        if deadline_ms <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (int(deadline_ms), next(self._seq), future))
        await future

    async def advance(self, ms: int, *, step_ms: int = 50) -> None:
        """Move time forward by `ms`, in increments of `step_ms`, letting woken tasks run."""
        target = self._now + int(ms)
        while self._now < target:
            self._now = min(target, self._now + step_ms)
            while self._waiters and self._waiters[0][0] <= self._now:
                _, _, future = heapq.heappop(self._waiters)
                if not future.done():
                    future.set_result(None)
            # Several yields: a woken task may itself wake others (generation -> broadcast).
            for _ in range(5):
                await asyncio.sleep(0)
