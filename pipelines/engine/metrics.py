"""Throughput and latency the engine measures about itself, and the status it reports."""

from __future__ import annotations

import time

import numpy as np

_LATENCY_SAMPLES = 20_000


class Rate:
    """Events per second over the last completed interval of at least one second."""

    def __init__(self) -> None:
        self.count = 0
        self._mark = (time.monotonic(), 0)
        self.value = 0.0

    def read(self) -> float:
        now = time.monotonic()
        t0, n0 = self._mark
        if now - t0 >= 1.0:
            self.value = (self.count - n0) / (now - t0)
            self._mark = (now, self.count)
        return self.value


class LatencyRing:
    """Receipt-to-visible latencies (ms) of the newest frames, for percentiles in the status."""

    def __init__(self, size: int = _LATENCY_SAMPLES) -> None:
        self._values = np.zeros(size)
        self.measured = 0  # frames recorded so far

    def record(self, seconds: np.ndarray) -> None:
        n = len(seconds)
        if n == 0:
            return
        size = len(self._values)
        idx = (self.measured + np.arange(min(n, size))) % size
        self._values[idx] = seconds[-size:] * 1000.0
        self.measured += n

    def samples(self, since: int = 0) -> np.ndarray:
        """Latencies of the frames recorded after the first `since`, the newest `size` at most."""
        size = len(self._values)
        taken = min(self.measured - since, size)
        if taken <= 0:
            return np.zeros(0)
        return self._values[np.arange(self.measured - taken, self.measured) % size]
