"""Keep the process's resident memory close to what it actually holds (glibc malloc).

All day the engine allocates and frees numpy blocks of 0.1-10 MB: micro-batches, buffer
growth, the writer's transactions. glibc raises its mmap threshold every time such a block is
freed, after which blocks of that size are carved from the heap, where freed space stays
resident instead of going back to the system: RSS creeps up while the data held does not
(measured in benchmarks/bench_day.py, see docs/performance.md). Pinning the threshold keeps
large blocks on mmap, returned at free, and a periodic `malloc_trim` hands back the free pages
left inside the heaps.

Both are no-ops where the C library is not glibc (macOS, Windows, musl).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import platform
import time
from functools import cache

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # mallopt parameter, from glibc's malloc.h
MMAP_THRESHOLD_BYTES = 256 * 1024


@cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    return libc


def pin_mmap_threshold(nbytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Serve every allocation of `nbytes` or more by mmap, for the whole process.

    True when the setting took effect (glibc only).
    """
    libc = _glibc()
    return bool(libc and libc.mallopt(_M_MMAP_THRESHOLD, int(nbytes)))


def release_free_memory() -> bool:
    """Return free heap pages to the system; True if any were released (glibc only)."""
    libc = _glibc()
    return bool(libc and libc.malloc_trim(0))


class MemoryTrimmer:
    """Calls `release_free_memory` at most once per `interval_s`, off the event loop.

    A trim walks every heap (5-50 ms with a 1 GB heap), so on a running loop it goes to the
    default executor; the C call releases the GIL.
    """

    def __init__(self, interval_s: float = 60.0) -> None:
        self.interval_s = float(interval_s)
        self.enabled = _glibc() is not None
        self._due = time.monotonic() + self.interval_s

    def tick(self) -> None:
        if not self.enabled or time.monotonic() < self._due:
            return
        self._due = time.monotonic() + self.interval_s
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._trim()
        else:
            loop.run_in_executor(None, self._trim)

    @staticmethod
    def _trim() -> None:
        start = time.perf_counter()
        release_free_memory()
        took_ms = (time.perf_counter() - start) * 1000
        if took_ms > 100:
            log.info("malloc_trim took %.0f ms", took_ms)
