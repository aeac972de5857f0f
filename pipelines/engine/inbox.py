"""Where receive loops leave raw frames until the next micro-batch takes them."""

from __future__ import annotations

import asyncio


class FrameInbox:
    """Raw frames and their receipt times, bounded: a full inbox makes receivers wait.

    Receivers stop reading their sockets while the inbox is full, so a slow consumer slows the
    connections down (TCP holds the rest) instead of dropping frames.
    """

    def __init__(self, max_frames: int = 500_000) -> None:
        self.max_frames = max_frames
        self._frames: list[bytes | str] = []
        self._times: list[float] = []
        self._room = asyncio.Event()
        self._room.set()
        self.waits = 0  # how often a receiver had to wait for room

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def full(self) -> bool:
        return len(self._frames) >= self.max_frames

    def put(self, frame: bytes | str, received: float) -> bool:
        """Queue a frame; True when the inbox is now full and the caller must `wait_room`."""
        self._frames.append(frame)
        self._times.append(received)
        if len(self._frames) >= self.max_frames:
            self._room.clear()
            return True
        return False

    async def wait_room(self) -> None:
        self.waits += 1
        await self._room.wait()

    def drain(self) -> tuple[list[bytes | str], list[float]]:
        frames, times = self._frames, self._times
        self._frames, self._times = [], []
        self._room.set()
        return frames, times
