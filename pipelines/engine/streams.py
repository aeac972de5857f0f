"""The engine's websocket streams, sharded over connections by route and rotated before expiry."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from pipelines.binance import endpoints as ep
from pipelines.engine.connection import ConnectionSettings, ConnectionStatus, StreamConnection
from pipelines.engine.inbox import FrameInbox

log = logging.getLogger(__name__)


class StreamSet:
    """Keeps a changing set of stream names subscribed, at most `per_connection` per socket.

    All-market streams (`!forceOrder@arr`, `!ticker@arr`) get a connection of their own so that a
    busy trade shard never delays liquidations.
    """

    def __init__(
        self,
        ws_base: str,
        inbox: FrameInbox,
        *,
        per_connection: int = 200,
        settings: ConnectionSettings | None = None,
        label: str = "",
    ) -> None:
        if not 1 <= per_connection <= ep.MAX_STREAMS_PER_CONNECTION:
            raise ValueError(f"per_connection must be 1..{ep.MAX_STREAMS_PER_CONNECTION}")
        self.ws_base = ws_base
        self.inbox = inbox
        self.per_connection = per_connection
        self.settings = settings or ConnectionSettings()
        self.label = label  # prefixes connection names (another set's in the same logs)
        self.connections: list[StreamConnection] = []
        self._supervisor: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    @property
    def streams(self) -> set[str]:
        return {s for c in self.connections for s in c.streams}

    def _new_connection(self, route: str, streams: list[str], kind: str) -> StreamConnection:
        prefix = f"{self.label}{route[1:]}-{kind}"
        n = sum(1 for c in self.connections if c.name.startswith(prefix))
        conn = StreamConnection(
            f"{prefix}-{n}", self.ws_base, route, streams, self.inbox, self.settings
        )
        self.connections.append(conn)
        conn.start()
        return conn

    async def add(self, streams: Iterable[str]) -> None:
        async with self._lock:
            wanted = [s for s in dict.fromkeys(streams) if s not in self.streams]
            for stream in wanted:
                route = ep.route_of(stream)
                kind = "all" if stream.startswith("!") else "sym"
                conn = next(
                    (
                        c
                        for c in self.connections
                        if c.route == route
                        and c.name.startswith(f"{self.label}{route[1:]}-{kind}")
                        and len(c.streams) < self.per_connection
                    ),
                    None,
                )
                if conn is None:
                    self._new_connection(route, [stream], kind)
                else:
                    await conn.subscribe([stream])
            if self._supervisor is None:
                self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def remove(self, streams: Iterable[str]) -> None:
        gone = set(streams)
        async with self._lock:
            for conn in self.connections:
                drop = [s for s in conn.streams if s in gone]
                if drop:
                    await conn.unsubscribe(drop)

    async def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            self._supervisor = None
        await asyncio.gather(*(c.stop() for c in self.connections), return_exceptions=True)
        self.connections.clear()

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for conn in list(self.connections):
                if conn.age_s > self.settings.lifetime_s:
                    try:
                        await self._rotate(conn)
                    except Exception:  # a failed rotation leaves the old socket running
                        log.exception("%s: rotation failed", conn.name)

    async def _rotate(self, old: StreamConnection) -> None:
        """Bring the replacement up before closing the old one: no gap, repeats dropped by id."""
        async with self._lock:
            new = StreamConnection(
                old.name, self.ws_base, old.route, list(old.streams), self.inbox, self.settings
            )
            new.inherit(old)
            new.start()
            deadline = asyncio.get_running_loop().time() + self.settings.rotation_overlap_s
            while new.data_since_open == 0 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            self.connections[self.connections.index(old)] = new
            await old.stop()
            log.info(
                "%s: rotated (replacement received %d frames first)", old.name, new.data_since_open
            )

    def settled_ms(self, live_within_s: float = 1.0) -> int:
        """The exchange time every live socket has delivered events up to: the slowest
        socket's newest event time, over the sockets that received a frame in the last
        `live_within_s` (a quiet socket must not hold the clock); 0 when none did."""
        now = time.monotonic()
        clocks = [
            c.newest_event_ms
            for c in self.connections
            if c.newest_event_ms and now - c.last_frame_at <= live_within_s
        ]
        return min(clocks, default=0)

    def drop_all(self) -> None:
        """Close every socket as a network failure would (operations and tests)."""
        for conn in self.connections:
            conn.drop()

    def status(self) -> list[ConnectionStatus]:
        return [c.status() for c in self.connections]
