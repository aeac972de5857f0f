"""One websocket client of the stand-in: its transport, limits, heartbeat and faults.

Data frames are written straight to the TCP transport as pre-built websocket frames (one write
per batch, no per-frame awaits): at tens of thousands of frames per second the per-message cost
of a websocket library would make the stand-in the bottleneck. Control frames (pong, close) go
through aiohttp, between whole batches, so frames never interleave.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import Transport

from aiohttp import web

from pipelines.standin.faults import ConnectionFaults
from pipelines.standin.frames import ws_frame
from pipelines.standin.limits import MessageBucket
from pipelines.standin.subscriptions import Subscriptions

log = logging.getLogger(__name__)

CLOSE_POLICY = 1008  # "Too many requests", "Invalid request", pong timeout
CLOSE_GOING_AWAY = 1001  # connection lifetime reached, server shutting down


class WsConnection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: Transport,
        subs: Subscriptions,
        faults: ConnectionFaults,
        *,
        serial: int,
        now_ms: int,
        ping_interval_ms: int,
        max_send_buffer: int,
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.subs = subs
        self.faults = faults
        self.serial = serial
        self.opened_ms = now_ms
        self.bucket = MessageBucket(now_ms)
        self.next_ping_ms = now_ms + ping_interval_ms
        self.pending_pings: dict[bytes, int] = {}  # payload -> sent at (ms)
        self.max_send_buffer = max_send_buffer
        self.closed = False
        self.close_reason = ""
        self.frames_sent = 0
        self.frames_lost_stalled = 0
        self._tasks: set[asyncio.Task] = set()

    def send(self, framed: list[bytes], now_ms: int) -> None:
        """Write already-framed websocket frames (one transport write)."""
        if self.closed or not framed:
            return
        if self.faults.stalled(now_ms):
            self.frames_lost_stalled += len(framed)
            return
        if self.transport.is_closing():
            self.closed = True
            return
        self.transport.write(b"".join(framed))
        self.frames_sent += len(framed)
        if self.transport.get_write_buffer_size() > self.max_send_buffer:
            # A consumer this far behind is cut off, as an exchange would.
            log.warning(
                "connection %d: client too slow, %d bytes queued; dropping it",
                self.serial,
                self.transport.get_write_buffer_size(),
            )
            self.abort("slow consumer")

    def send_payloads(self, payloads: list[bytes], now_ms: int) -> None:
        self.send([ws_frame(p) for p in payloads], now_ms)

    def pong(self, payload: bytes) -> None:
        # Only a pong echoing an outstanding ping counts; unsolicited pongs change nothing.
        self.pending_pings.pop(bytes(payload), None)

    def ping_soon(self, now_ms: int) -> None:
        """Send a server ping whose payload is the time in ms, as Binance does."""
        if self.closed or self.faults.stalled(now_ms):
            return
        payload = str(now_ms).encode()
        self.pending_pings[payload] = now_ms
        self._spawn(self.ws.ping(payload))

    def oldest_unanswered_ping(self) -> int | None:
        return min(self.pending_pings.values()) if self.pending_pings else None

    def close_soon(self, code: int, reason: str) -> None:
        """Stop data now and run the close handshake in the background."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self._spawn(self._close(code, reason))

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        await self._close(code, reason)

    async def _close(self, code: int, reason: str) -> None:
        try:
            await self.ws.close(code=code, message=reason.encode())
        except (TimeoutError, ConnectionError, RuntimeError):
            self.transport.abort()

    def abort(self, reason: str) -> None:
        """Drop the TCP connection without a close frame."""
        self.closed = True
        self.close_reason = reason
        self.transport.abort()

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and isinstance(task.exception(), ConnectionError):
            self.closed = True
