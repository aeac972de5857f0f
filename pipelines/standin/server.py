"""The exchange stand-in: a loopback aiohttp server speaking Binance USD-M REST and websockets.

    async with StandIn(symbols=50, rate=500, seed=1, truth_path="truth.csv") as exchange:
        ... exchange.rest_url, exchange.ws_url ...

One loop drives everything on the clock's step grid: generate the step's trades, record them as
ground truth, push them, then push the periodic streams (depth every 100/250/500 ms, klines
every 250 ms, liquidation snapshots and ticker arrays every second) and run the connection
timers (server pings, pong timeout, lifetime, injected drops and stalls). `StandInThread` runs
the same server on its own event loop in a background thread.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections import deque
from pathlib import Path

import numpy as np
import pandas as pd
from aiohttp import WSMsgType, web

from pipelines.binance.endpoints import (
    CONNECTION_LIFETIME_S,
    MARKET_ROUTE,
    MAX_STREAMS_PER_CONNECTION,
    PUBLIC_ROUTE,
    REST_WEIGHT_LIMIT_PER_MINUTE,
    SERVER_PING_INTERVAL_S,
)
from pipelines.standin.archive import Archive
from pipelines.standin.broadcast import Broadcaster
from pipelines.standin.clock import Clock
from pipelines.standin.connection import CLOSE_GOING_AWAY, CLOSE_POLICY, WsConnection
from pipelines.standin.derivatives import Derivatives
from pipelines.standin.faults import ConnectionFaults, FaultSpec
from pipelines.standin.frames import Formats
from pipelines.standin.history import to_trade_records
from pipelines.standin.limits import WeightLimiter
from pipelines.standin.market import Market
from pipelines.standin.replay import (
    ReplayClock,
    ReplaySchedule,
    load_capture,
    observed_grids,
    record_replayed,
)
from pipelines.standin.replay_book import ReplayBooks, depth_snapshots
from pipelines.standin.rest import RestApi
from pipelines.standin.subscriptions import Subscriptions, TooManySubscriptions
from pipelines.standin.truth import TruthRecorder, truth_frame
from pipelines.standin.universe import replay_contract

log = logging.getLogger(__name__)

PONG_TIMEOUT_S = 600
PRIVATE_ROUTE = "/private"  # user data streams: no stream of the stand-in is routed here
MAX_SEND_BUFFER = 32 * 1024 * 1024
_KEPT_FORCE_ORDERS = 100_000


class StandIn:
    """A Binance USD-M stand-in on 127.0.0.1; `port=0` picks a free port."""

    def __init__(
        self,
        *,
        symbols: int = 600,
        rate: float = 2000.0,
        seed: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
        truth_path: str | Path | None = None,
        faults: str | FaultSpec = "",
        lifetime_s: float = CONNECTION_LIFETIME_S,
        ping_interval_s: float = SERVER_PING_INTERVAL_S,
        pong_timeout_s: float = PONG_TIMEOUT_S,
        replay: str | Path | None = None,
        speed: float = 1.0,
        hold: bool = False,
        clock: Clock | None = None,
        step_ms: int = 50,
        retention_s: float = 7200.0,
        max_trades: int = 10_000_000,
        rest_weight_limit: int = REST_WEIGHT_LIMIT_PER_MINUTE,
        max_streams: int = MAX_STREAMS_PER_CONNECTION,
        max_send_buffer: int = MAX_SEND_BUFFER,
        history_s: float = 0.0,
        klines_ready_h: float = 0.0,
    ) -> None:
        self.clock = clock or Clock()
        # Hours of the past whose klines are prepared in the background from the start (0:
        # computed when asked); contracts in name order, as a client warming all of them asks.
        self.klines_ready_h = klines_ready_h
        self._preparing = threading.Event()  # set: stop preparing
        self.seed = seed
        self.host = host
        self._port = port
        self.faults = faults if isinstance(faults, FaultSpec) else FaultSpec.parse(faults)
        self.lifetime_ms = int(lifetime_s * 1000)
        self.ping_interval_ms = int(ping_interval_s * 1000)
        self.pong_timeout_ms = int(pong_timeout_s * 1000)
        self.max_streams = max_streams
        self.max_send_buffer = max_send_buffer
        self.hold = hold
        frames, snapshot_bodies = load_capture(replay) if replay else (None, [])
        contracts = None
        self._replay: ReplaySchedule | None = None
        # The capture's book at the replay position (REST depth during a replay).
        self.replay_books: ReplayBooks | None = None
        # What clients see as server time: the capture's clock during a replay.
        self.server_time: Clock | ReplayClock = self.clock
        if frames is not None:
            contracts = [replay_contract(s, *grid) for s, grid in observed_grids(frames).items()]
            rate = 0.0
            self._replay = ReplaySchedule(frames, None, speed)
            self.replay_books = ReplayBooks(depth_snapshots(frames, snapshot_bodies))
            self.server_time = ReplayClock(self._replay, self.clock)
        self.market = Market(
            symbols,
            rate,
            seed,
            start_ms=self.server_time.now_ms(),
            step_ms=step_ms,
            contracts=contracts,
            retention_s=retention_s,
            max_trades=max_trades,
            history_ms=int(history_s * 1000),
        )
        market = self.market
        self.derivatives = Derivatives(
            seed,
            market.last_price.astype(np.float64),
            market.agg_rate
            * 86_400
            * market.mean_notional
            / (market.bid * market.tick * market.step),
        )
        self._second_volume = np.zeros(len(market.contracts))
        self.formats = Formats(self.market)
        self.broadcaster = Broadcaster(self.market, self.formats)
        self.limiter = WeightLimiter(rest_weight_limit)
        self.truth_path = Path(truth_path) if truth_path else None
        self.truth: TruthRecorder | None = None
        self.connections: list[WsConnection] = []
        self.force_orders: deque[np.ndarray] = deque(maxlen=_KEPT_FORCE_ORDERS)
        self.closed_connections = 0
        self._rest_rng = np.random.default_rng([seed, 0x429])
        self._serial = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._loop_task: asyncio.Task | None = None
        self.replay_frames_sent = 0
        self._changed = {p: np.zeros(0, bool) for p in (250, 1000)}
        self._paused = False

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> StandIn:
        if self.truth_path:
            self.truth = TruthRecorder(self.truth_path, self.market)
        await self._serve()
        if self._replay is not None and not self.hold:
            self._replay.start(self.clock.now_ms())
        self._loop_task = asyncio.create_task(self._run(), name="standin-loop")
        if self.klines_ready_h > 0 and self.market.past.minutes:
            symbols = self.market.symbols
            by_name = sorted(range(len(symbols)), key=symbols.__getitem__)
            threading.Thread(
                target=self.market.past.prepare_klines,
                args=(by_name, self.klines_ready_h, self._preparing),
                name="standin-klines",
                daemon=True,
            ).start()
        log.info("stand-in up: rest %s  ws %s", self.rest_url, self.ws_url)
        return self

    async def _serve(self) -> None:
        # Long combined-stream URLs (hundreds of streams) must reach the 1024-stream check.
        app = web.Application(handler_args={"max_line_size": 1 << 20})
        archive = Archive(self.market.past, self.formats.prices, self.formats.qtys)
        RestApi(
            self.market,
            self.formats,
            self.server_time,
            self.limiter,
            archive,
            self.derivatives,
            self,
            self.replay_books,
        ).add_routes(app)
        # /private carries user data: accepted, and silent without a listen key's events.
        for route in ("/market", "/public", "/private", ""):
            app.router.add_get(f"{route}/stream", self._ws_handler)
            app.router.add_get(f"{route}/ws", self._ws_handler)
            app.router.add_get(f"{route}/ws/{{tail:.*}}", self._ws_handler)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def network_down(self) -> None:
        """Cut the network: sockets drop without a close frame, new connections are refused.

        The market keeps trading meanwhile, as Binance would; `network_up` restores access on
        the same port, and REST then serves what was missed.
        """
        for conn in list(self.connections):
            conn.abort("network down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def network_up(self) -> None:
        if self._runner is None:
            await self._serve()

    async def stop(self) -> None:
        self._preparing.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        for conn in list(self.connections):
            await conn.close(CLOSE_GOING_AWAY, "Server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.truth is not None:
            self.truth.close()
            self.truth = None

    async def __aenter__(self) -> StandIn:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self._port}"

    # -------------------------------------------------------------- control

    def list_symbol(self, symbol: str) -> None:
        known = len(self.market.contracts)
        self.market.list_symbol(symbol)
        if len(self.market.contracts) > known:  # a new contract, not a re-listing
            self.derivatives.add_symbol(float(self.market.last_price[-1]))
            self._second_volume = np.append(self._second_volume, 0.0)

    def delist_symbol(self, symbol: str) -> None:
        self.market.delist_symbol(symbol)

    def set_faults(self, spec: str | FaultSpec) -> str:
        """Change the faults of every connection, current and future; returns the new spec."""
        self.faults = spec if isinstance(spec, FaultSpec) else FaultSpec.parse(spec)
        for conn in self.connections:
            conn.faults.spec = self.faults
        return str(self.faults)

    def pause(self) -> None:
        """Stop generating trades (time still runs; streams other than trades keep going)."""
        self._paused = True

    def resume(self) -> None:
        """Resume generation from the current time (the paused span has no trades)."""
        step = self.market.step_ms
        self.market.time_ms = max(self.market.time_ms, self.clock.now_ms() // step * step)
        self._paused = False

    def draw_rest429(self) -> bool:
        return bool(self.faults.rest429) and self._rest_rng.random() < self.faults.rest429

    def ground_truth(self, symbol: str) -> pd.DataFrame:
        """Retained trades of one contract in the truth layout (see `truth.read_truth`)."""
        sym = self.market.index(symbol)
        if sym is None:
            raise KeyError(f"unknown symbol {symbol!r}")
        return truth_frame(
            to_trade_records(self.market.history.symbol_trades(sym), sym), self.market
        )

    def true_book(self, symbol: str, update_id: int | None = None) -> dict:
        """Ground truth of a contract's generated book, in the REST depth layout (wire strings,
        best first, every level): now, or as of `update_id` (a diff event's `u`, within
        book.JOURNAL_MS). Materialises the book if nobody watched it yet."""
        sym = self.market.index(symbol)
        if sym is None:
            raise KeyError(f"unknown symbol {symbol!r}")
        state = self.market.true_book(sym, update_id)
        sides = {}
        for name, levels in (("bids", state.bids), ("asks", state.asks)):
            prices = np.array(sorted(levels, reverse=name == "bids"), dtype=np.int64)
            qtys = np.array([levels[p] for p in prices.tolist()], dtype=np.int64)
            sides[name] = self.formats.levels(prices, qtys, sym)
        return {"lastUpdateId": state.update_id, **sides}

    def stats(self) -> dict:
        faults: dict[str, int] = {}
        for conn in self.connections:
            for name, n in conn.faults.counts.items():
                faults[name] = faults.get(name, 0) + n
        return {
            "trades_generated": len(self.market.history),
            "agg_frames_sent": self.broadcaster.agg_frames_sent,
            "connections": len(self.connections),
            "connections_closed": self.closed_connections,
            "faults": str(self.faults),
            "frame_faults_open_connections": faults,
            "frames_lost_while_stalled": sum(c.frames_lost_stalled for c in self.connections),
            "symbols": len(self.market.contracts),
            "replay": self._replay_stats(),
        }

    def _replay_stats(self) -> dict | None:
        replay = self._replay
        if replay is None:
            return None
        return {
            "frames": len(replay.frames),
            "released": replay.released,
            "frames_sent": self.replay_frames_sent,
            "started": replay.start_ms is not None,
            "done": replay.done,
            "server_time": self.server_time.now_ms(),
        }

    # -------------------------------------------------------------- main loop

    async def _run(self) -> None:
        step = self.market.step_ms
        prev = self.clock.now_ms()
        while True:
            await self.clock.sleep_until((prev // step + 1) * step)
            now = self.clock.now_ms()
            try:
                self._tick(prev, now)
            except Exception:  # keep serving: one bad step must not stop the exchange
                log.exception("stand-in step at %d failed", now)
            prev = now

    def _tick(self, prev: int, now: int) -> None:
        market = self.market
        if self._paused or self._replay is not None:  # a replay generates nothing
            market.time_ms = now // market.step_ms * market.step_ms
            steps = []
        else:
            steps = market.advance_to(now)
        # Timers first: a drop or stall drawn for this tick already applies to its frames.
        self._connection_timers(self.connections, now, (now - prev) / 1000.0)
        conns = [c for c in self.connections if not c.closed]
        n = len(market.contracts)
        for period, changed in self._changed.items():
            if len(changed) != n:  # a listing changed the universe
                self._changed[period] = np.zeros(n, bool)
        if steps:
            trades = np.concatenate([s.trades for s in steps])
            nq = np.concatenate([s.nq for s in steps])
            if self.truth is not None:
                self.truth.record(trades)
            traded = np.zeros(n, bool)
            traded[trades["sym"]] = True
            for changed in self._changed.values():
                changed |= traded
            self.broadcaster.trades(trades, nq, conns, now)
            self.broadcaster.raw_trades(trades, conns, now)
            self.broadcaster.book_tickers(traded, conns, now)
            self._second_volume += np.bincount(trades["sym"], weights=trades["qty"], minlength=n)
        if self._replay is not None:
            if self._replay.start_ms is None and any(c.subs.streams for c in conns):
                self._replay.start(now)  # --hold: the clock starts with the first subscriber
            due = self._replay.due(now)
            if self.replay_books is not None:
                self.replay_books.feed(due)
            record_replayed(market, due)
            self.replay_frames_sent += self.broadcaster.replay(due, conns, now)

        def crossed(period: int) -> bool:
            return now // period != prev // period

        # Diff depth of the generated books (a replay serves its capture's own depth events).
        generated_books = self._replay is None
        if generated_books:
            self.broadcaster.diff_depth(0, conns, now)  # @0ms: every step that changed a book
        for speed in (100, 250, 500):
            if crossed(speed):
                self.broadcaster.depth(speed, conns, now)
                if generated_books:
                    self.broadcaster.diff_depth(speed, conns, now)
        if crossed(250):
            self.broadcaster.klines(self._changed[250], conns, now)
            self._changed[250][:] = False
        if crossed(1000):
            window_end = now // 1000 * 1000
            liqs = market.force_order_snapshot(window_end)
            if len(liqs):
                self.force_orders.append(liqs)
                self.broadcaster.force_orders(liqs, conns, now)
            self.broadcaster.tickers(self._changed[1000], conns, now)
            self.derivatives.second(market.last_price.astype(np.float64), self._second_volume, now)
            self._second_volume[:] = 0.0
            self.broadcaster.mark_prices(1000, self.derivatives, conns, now)
            if crossed(3000):
                self.broadcaster.mark_prices(3000, self.derivatives, conns, now)
            self._changed[1000][:] = False
            if self.truth is not None:
                self.truth.flush()

    def _connection_timers(self, conns: list[WsConnection], now: int, dt_s: float) -> None:
        for conn in conns:
            if conn.closed:
                continue
            event = conn.faults.connection_event(now, dt_s)
            if event == "drop":
                log.info("fault: dropping connection %d", conn.serial)
                conn.abort("fault: drop")
                continue
            if event == "stall":
                log.info("fault: stalling connection %d", conn.serial)
            if now - conn.opened_ms >= self.lifetime_ms:
                conn.close_soon(CLOSE_GOING_AWAY, "Connection lifetime expired")
                continue
            oldest = conn.oldest_unanswered_ping()
            if oldest is not None and now - oldest >= self.pong_timeout_ms:
                conn.close_soon(CLOSE_POLICY, "Pong timeout")
                continue
            if now >= conn.next_ping_ms:
                conn.next_ping_ms = now + self.ping_interval_ms
                conn.ping_soon(now)

    # -------------------------------------------------------------- websocket

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        routes = (MARKET_ROUTE, PUBLIC_ROUTE, PRIVATE_ROUTE)
        route = next((r for r in routes if path.startswith(r + "/")), "")
        rest = path[len(route) :]
        combined = rest == "/stream"
        if combined:
            names = request.query.get("streams", "")
        else:
            names = rest[len("/ws/") :] if rest.startswith("/ws/") else ""
        initial = [s for s in names.split("/") if s]
        ws = web.WebSocketResponse(
            autoping=False, compress=False, timeout=2.0, max_msg_size=1 << 20
        )
        await ws.prepare(request)
        now = self.clock.now_ms()
        serial = next(self._serial)
        subs = Subscriptions(route, combined=combined, max_streams=self.max_streams)
        conn = WsConnection(
            ws,
            request.transport,
            subs,
            ConnectionFaults(self.faults, self.seed, serial),
            serial=serial,
            now_ms=now,
            ping_interval_ms=self.ping_interval_ms,
            max_send_buffer=self.max_send_buffer,
        )
        try:
            subs.add(initial)
        except TooManySubscriptions:
            await conn.close(CLOSE_POLICY, "Invalid request")
            return ws
        self.connections.append(conn)
        try:
            await self._receive(conn)
        finally:
            self.connections.remove(conn)
            self.closed_connections += 1
            conn.closed = True
        return ws

    async def _receive(self, conn: WsConnection) -> None:
        ws = conn.ws
        while not ws.closed:
            msg = await ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return
            now = self.clock.now_ms()
            if not conn.bucket.take(now):
                await conn.close(CLOSE_POLICY, "Too many requests")
                return
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                try:
                    reply = conn.subs.handle(msg.data)
                except TooManySubscriptions:
                    conn.send_payloads([conn.subs.too_many_reply(msg.data)], now)
                    await conn.close(CLOSE_POLICY, "Invalid request")
                    return
                conn.send_payloads([reply], now)
            elif msg.type == WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type == WSMsgType.PONG:
                conn.pong(msg.data)


class StandInThread:
    """A `StandIn` on its own event loop in a daemon thread (demo mode, benchmarks).

    with StandInThread(symbols=100, rate=1000) as exchange:
        requests go to exchange.rest_url / exchange.ws_url
    """

    def __init__(self, **kwargs: object) -> None:
        self._kwargs = kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="standin", daemon=True)
        self.standin: StandIn | None = None

    def start(self) -> StandInThread:
        self._thread.start()

        async def make() -> StandIn:
            return await StandIn(**self._kwargs).start()  # type: ignore[arg-type]

        self.standin = asyncio.run_coroutine_threadsafe(make(), self._loop).result(timeout=60)
        return self

    def call(self, func, *args):
        """Run `func(*args)` on the stand-in's loop (list/delist/faults) and return its result."""

        async def run():
            return func(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    def stop(self) -> None:
        if self.standin is not None:
            asyncio.run_coroutine_threadsafe(self.standin.stop(), self._loop).result(timeout=30)
            self.standin = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @property
    def rest_url(self) -> str:
        assert self.standin is not None
        return self.standin.rest_url

    @property
    def ws_url(self) -> str:
        assert self.standin is not None
        return self.standin.ws_url

    def __enter__(self) -> StandInThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
