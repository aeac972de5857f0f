"""One websocket connection to a routed path, kept alive for as long as the engine runs.

The receive loop does as little as possible: it appends the raw frame and its receipt time to
the shared inbox; parsing happens once per micro-batch. Around it: paced SUBSCRIBE batches (the
server closes a connection that sends more than 10 messages/s), a silence watchdog, reconnects
with exponential backoff and jitter, and the owner (`StreamSet`) rotates a connection before the 24 h lifetime by
starting its replacement and stopping the old one once the new one receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from dataclasses import dataclass, field

import aiohttp
import orjson

from pipelines.binance import endpoints as ep
from pipelines.engine.inbox import FrameInbox

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ConnectionSettings:
    streams_per_subscribe: int = 200
    control_messages_per_s: float = 4.0  # below Binance's 10/s, pings and pongs included
    watchdog_s: float = 30.0  # silence after which the connection is taken for dead
    lifetime_s: float = ep.CONNECTION_LIFETIME_S - 15 * 60  # rotate before the server's cut
    rotation_overlap_s: float = 10.0  # longest wait for the replacement's first frame
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    stable_after_s: float = 30.0  # a connection this old resets the backoff


@dataclass(slots=True)
class ConnectionStatus:
    name: str
    route: str
    streams: int
    connected: bool
    frames: int
    frames_per_s: float
    last_frame_age_s: float | None
    reconnects: int
    rotations: int
    last_error: str


def event_time(frame: str | bytes) -> int:
    """The first event time ("E") of a frame, read without parsing it (0 if there is none):
    Binance writes it near the start, 13 digits, no spaces."""
    if not isinstance(frame, str):
        return 0
    at = frame.find('"E":', 0, 256)
    digits = frame[at + 4 : at + 17] if at >= 0 else ""
    return int(digits) if digits.isdigit() else 0


@dataclass(slots=True)
class _Counters:
    frames: int = 0
    reconnects: int = 0
    rotations: int = 0
    last_frame: float = 0.0
    last_error: str = ""
    rate_mark: tuple[float, int] = field(default_factory=lambda: (time.monotonic(), 0))
    rate: float = 0.0


class StreamConnection:
    """Keeps a set of streams subscribed on one routed path of the websocket server."""

    _ids = itertools.count(1)

    def __init__(
        self,
        name: str,
        ws_base: str,
        route: str,
        streams: list[str],
        inbox: FrameInbox,
        settings: ConnectionSettings | None = None,
    ) -> None:
        self.name = name
        self.ws_base = ws_base.rstrip("/")
        self.route = route
        self.streams: list[str] = list(streams)
        self._inbox = inbox
        self.settings = settings or ConnectionSettings()
        self._counters = _Counters()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None
        self._last_control = 0.0
        self._stopping = False
        self.opened_at = 0.0  # monotonic time the current socket opened
        self.data_since_open = 0  # frames received on the current socket
        # The newest event time (E) this socket delivered: the exchange's clock as far as this
        # socket is concerned. The engine's settled clock is the slowest socket's.
        self.newest_event_ms = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def last_frame_at(self) -> float:
        """Monotonic time of the newest frame (0 before the first)."""
        return self._counters.last_frame

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    def drop(self) -> None:
        """Close the socket as if the network failed; the loop reconnects (for tests and ops)."""
        if self._ws is not None:
            asyncio.get_running_loop().create_task(self._ws.close())

    # ------------------------------------------------------------------ subscriptions

    async def subscribe(self, streams: list[str]) -> None:
        new = [s for s in streams if s not in self.streams]
        self.streams.extend(new)
        if self.connected and new:
            await self._send_control("SUBSCRIBE", new)

    async def unsubscribe(self, streams: list[str]) -> None:
        gone = [s for s in streams if s in self.streams]
        self.streams = [s for s in self.streams if s not in gone]
        if self.connected and gone:
            await self._send_control("UNSUBSCRIBE", gone)

    async def _send_control(self, method: str, streams: list[str]) -> None:
        size = self.settings.streams_per_subscribe
        for i in range(0, len(streams), size):
            await self._pace()
            if self._ws is None or self._ws.closed:
                return  # the reconnect subscribes everything in self.streams
            message = {"method": method, "params": streams[i : i + size], "id": next(self._ids)}
            await self._ws.send_bytes(orjson.dumps(message))

    async def _pace(self) -> None:
        gap = 1.0 / self.settings.control_messages_per_s
        wait = self._last_control + gap - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_control = time.monotonic()

    # ------------------------------------------------------------------ receive loop

    async def _run(self) -> None:
        backoff = self.settings.backoff_initial_s
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._session_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of one connection ends in a reconnect
                self._counters.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("%s: connection failed: %s", self.name, self._counters.last_error)
            if self._stopping:
                break
            self._counters.reconnects += 1
            if time.monotonic() - started > self.settings.stable_after_s:
                backoff = self.settings.backoff_initial_s
            delay = random.uniform(0, backoff)  # full jitter: many shards don't reconnect in step
            log.info("%s: reconnecting in %.2f s", self.name, delay)
            await asyncio.sleep(delay)
            backoff = min(backoff * 2, self.settings.backoff_max_s)

    def _session_or_new(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _open(self) -> aiohttp.ClientWebSocketResponse:
        url = f"{self.ws_base}{self.route}/stream"
        ws = await self._session_or_new().ws_connect(
            url,
            autoping=True,
            heartbeat=None,
            max_msg_size=0,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10.0),
        )
        self._last_control = 0.0
        return ws

    async def _session_once(self) -> None:
        ws = await self._open()
        self._ws = ws
        watchdog = asyncio.get_running_loop().create_task(self._watch(ws))
        try:
            self.opened_at = time.monotonic()
            self.data_since_open = 0
            await self._send_control("SUBSCRIBE", list(self.streams))
            counters, put, clock = self._counters, self._inbox.put, time.monotonic
            data_types = (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)
            while True:
                # No per-receive timeout: arming one per frame costs more than parsing the frame.
                msg = await ws.receive()
                if msg.type in data_types:
                    now = clock()
                    counters.frames += 1
                    counters.last_frame = now
                    self.data_since_open += 1
                    event_ms = event_time(msg.data)
                    if event_ms > self.newest_event_ms:
                        self.newest_event_ms = event_ms
                    if put(msg.data, now):  # back-pressure: stop reading, TCP holds the rest
                        await self._inbox.wait_room()
                else:
                    if not self._counters.last_error.startswith("silent"):
                        self._counters.last_error = f"closed: {ws.close_code} {msg.extra}"
                    return
        finally:
            watchdog.cancel()
            self._ws = None
            await ws.close()

    async def _watch(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Close a socket that has been silent too long; the receive loop then reconnects."""
        limit = self.settings.watchdog_s
        while not ws.closed:
            await asyncio.sleep(min(1.0, limit / 4))
            if time.monotonic() - max(self._counters.last_frame, self.opened_at) > limit:
                self._counters.last_error = f"silent for {limit:.0f} s"
                log.warning("%s: %s, reconnecting", self.name, self._counters.last_error)
                await ws.close()
                return

    @property
    def age_s(self) -> float:
        return time.monotonic() - self.opened_at if self.connected else 0.0

    def inherit(self, old: StreamConnection) -> None:
        """Carry a rotated connection's counters over so the shard's figures stay continuous."""
        self._counters = old._counters
        self._counters.rotations += 1

    def status(self) -> ConnectionStatus:
        c = self._counters
        now = time.monotonic()
        mark_t, mark_n = c.rate_mark
        if now - mark_t >= 1.0:
            c.rate = (c.frames - mark_n) / (now - mark_t)
            c.rate_mark = (now, c.frames)
        return ConnectionStatus(
            name=self.name,
            route=self.route,
            streams=len(self.streams),
            connected=self.connected,
            frames=c.frames,
            frames_per_s=c.rate,
            last_frame_age_s=(now - c.last_frame) if c.last_frame else None,
            reconnects=c.reconnects,
            rotations=c.rotations,
            last_error=c.last_error,
        )
