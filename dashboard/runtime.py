"""The one engine of a server process, shared by every browser session.

The served script (`dashboard/app.py`) runs again for each session; this module is imported
once per process, so its global holds the engine: ten browser tabs read the same engine and
open no connections of their own. The engine runs on the server's asyncio loop (Tornado's under
`panel serve`); in demo mode the exchange stand-in runs on a loop of its own in a thread, so a
busy UI does not slow the exchange down.

Settings come from `RuntimeSettings` (the CLI) or from the environment (`panel serve`):
ORDERFLOW_DEMO=1, ORDERFLOW_SYMBOLS=BTCUSDT,ETHUSDT, ORDERFLOW_DB=path, ORDERFLOW_REST_URL,
ORDERFLOW_WS_URL, ORDERFLOW_DEMO_SYMBOLS (number of generated contracts), ORDERFLOW_DEMO_RATE
(trades/s), ORDERFLOW_DEMO_SEED, ORDERFLOW_DEMO_HISTORY (seconds of generated past),
ORDERFLOW_HISTORY_HOURS (REST history a footprint loads when a contract opens),
ORDERFLOW_RESEARCH_DIR (an `orderflow research` output directory: the Signals tab shows each
signal's record from it).

A store file that cannot be used does not stop the dashboard: it runs from memory and the
header says why the store is unavailable. An exchange that does not answer is retried with
backoff (`engine.startup`), the header showing what could not be reached.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
from dataclasses import dataclass, field, replace

import panel as pn

from pipelines.engine.options import books_of
from pipelines.engine.service import Engine, EngineConfig
from pipelines.engine.startup import start_when_reachable
from pipelines.standin.server import StandInThread
from pipelines.storage.faults import StoreUnavailableError, check_store
from pipelines.storage.retention import Retention

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuntimeSettings:
    demo: bool = False
    demo_symbols: int = 60
    demo_rate: float = 300.0
    demo_seed: int = 7
    demo_history_s: float = 86_400.0  # a past, so a first footprint has hours behind it
    history_hours: float = 2.0
    warm_hours: float = 8.0  # minute history of every contract from 1m klines at start
    books: tuple[str, ...] = ()  # local order books kept from the start (`--books`)
    retention: Retention = field(default_factory=Retention)
    symbols: tuple[str, ...] | None = None
    db_path: str | None = None
    rest_url: str | None = None
    ws_url: str | None = None
    research_dir: str | None = None  # `orderflow research` output: the signals' record

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> RuntimeSettings:
        env = dict(os.environ if env is None else env)
        symbols = tuple(
            s.strip().upper() for s in env.get("ORDERFLOW_SYMBOLS", "").split(",") if s.strip()
        )
        try:
            return cls(
                demo=env.get("ORDERFLOW_DEMO", "").lower() in {"1", "true", "yes", "on"},
                demo_symbols=int(env.get("ORDERFLOW_DEMO_SYMBOLS", cls.demo_symbols)),
                demo_rate=float(env.get("ORDERFLOW_DEMO_RATE", cls.demo_rate)),
                demo_seed=int(env.get("ORDERFLOW_DEMO_SEED", cls.demo_seed)),
                demo_history_s=float(env.get("ORDERFLOW_DEMO_HISTORY", cls.demo_history_s)),
                history_hours=float(env.get("ORDERFLOW_HISTORY_HOURS", cls.history_hours)),
                warm_hours=float(env.get("ORDERFLOW_WARM_HOURS", cls.warm_hours)),
                books=books_of(env.get("ORDERFLOW_BOOKS", "")),
                symbols=symbols or None,
                db_path=env.get("ORDERFLOW_DB") or None,
                rest_url=env.get("ORDERFLOW_REST_URL") or None,
                ws_url=env.get("ORDERFLOW_WS_URL") or None,
                research_dir=env.get("ORDERFLOW_RESEARCH_DIR") or None,
            )
        except ValueError as exc:
            raise ValueError(f"bad ORDERFLOW_* setting: {exc}") from None

    def to_env(self) -> dict[str, str]:
        """The environment that makes `from_env` give these settings back (for subprocesses)."""
        env = {
            "ORDERFLOW_DEMO": "1" if self.demo else "0",
            "ORDERFLOW_DEMO_SYMBOLS": str(self.demo_symbols),
            "ORDERFLOW_DEMO_RATE": str(self.demo_rate),
            "ORDERFLOW_DEMO_SEED": str(self.demo_seed),
            "ORDERFLOW_DEMO_HISTORY": str(self.demo_history_s),
            "ORDERFLOW_HISTORY_HOURS": str(self.history_hours),
            "ORDERFLOW_WARM_HOURS": str(self.warm_hours),
        }
        for key, value in (
            ("ORDERFLOW_SYMBOLS", ",".join(self.symbols or ())),
            ("ORDERFLOW_BOOKS", ",".join(self.books)),
            ("ORDERFLOW_DB", self.db_path),
            ("ORDERFLOW_REST_URL", self.rest_url),
            ("ORDERFLOW_WS_URL", self.ws_url),
            ("ORDERFLOW_RESEARCH_DIR", self.research_dir),
        ):
            if value:
                env[key] = value
        return env


class Runtime:
    """The engine (and in demo mode the stand-in) of this process."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self.settings = settings
        self.exchange: StandInThread | None = None
        config = EngineConfig()
        if settings.demo:
            self.exchange = StandInThread(
                symbols=settings.demo_symbols,
                rate=settings.demo_rate,
                seed=settings.demo_seed,
                history_s=settings.demo_history_s,
                klines_ready_h=settings.warm_hours,  # what the engine's warm-up asks at once
            ).start()
            config = replace(config, rest_url=self.exchange.rest_url, ws_url=self.exchange.ws_url)
        if settings.rest_url:
            config = replace(config, rest_url=settings.rest_url)
        if settings.ws_url:
            config = replace(config, ws_url=settings.ws_url)
        if settings.symbols:
            config = replace(config, symbols=settings.symbols)
        if settings.books:
            config = replace(config, books=settings.books)
        problem = ""
        if settings.db_path:
            try:
                check_store(settings.db_path)
                config = replace(config, db_path=settings.db_path)
            except StoreUnavailableError as exc:
                problem = str(exc)
                log.error("%s; the dashboard runs without a store", problem)
        config = replace(
            config,
            history_hours=settings.history_hours,
            warm_hours=settings.warm_hours,
            retention=settings.retention,
        )
        self.engine = Engine(config)
        self.engine.store_problem = problem
        self._stop = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start the engine on the running loop, or on a loop of its own when none runs."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self.loop = loop
            self._task = loop.create_task(self._start_engine(), name="orderflow-engine-start")
            return
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(started.set)
            self._task = self.loop.create_task(self._start_engine())
            self.loop.run_forever()

        self._thread = threading.Thread(target=run, name="orderflow-engine", daemon=True)
        self._thread.start()
        started.wait(10)

    async def _start_engine(self) -> None:
        try:
            await start_when_reachable(self.engine, self._stop)
        except Exception as exc:  # not a network fault: the header says it, no retry
            self.engine.last_error = f"start: {type(exc).__name__}: {exc}"
            log.error("engine start failed: %s", self.engine.last_error)
            log.debug("engine start failed", exc_info=exc)

    async def stop_async(self) -> None:
        """Stop on the engine's own loop (the server's): no more work, flush, drain the writer."""
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self.engine.stop()
        if self.exchange is not None:
            await asyncio.to_thread(self.exchange.stop)
            self.exchange = None

    def stop(self) -> None:
        """Stop the engine, the writer and the stand-in (for tests and clean shutdowns)."""
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self._stop.set)  # no further start attempts
            future = asyncio.run_coroutine_threadsafe(self.engine.stop(), self.loop)
            try:
                future.result(10)
            except Exception as exc:  # shutting down: report, do not raise
                log.warning("engine stop: %r", exc)
            if self._thread is not None:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(5)
        if self.exchange is not None:
            self.exchange.stop()


_LOCK = threading.Lock()
_RUNTIME: Runtime | None = None
_SETTINGS: RuntimeSettings | None = None
_created = 0  # how many runtimes this process has made (one, unless shut down in between)


def configure(settings: RuntimeSettings) -> None:
    """Choose the settings before the first session asks for the engine."""
    global _SETTINGS
    _SETTINGS = settings


def configured() -> RuntimeSettings | None:
    return _SETTINGS


def get_runtime() -> Runtime:
    """This process's runtime, created and started on first use."""
    global _RUNTIME, _created
    with _LOCK:
        if _RUNTIME is None:
            runtime = Runtime(_SETTINGS or RuntimeSettings.from_env())
            runtime.start()
            _RUNTIME = runtime
            _created += 1
            if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
                settle_heap()  # a server's session asked (not a notebook or a script)
        return _RUNTIME


def settle_heap() -> None:
    """Exempt what a server process holds for good from Python's cyclic garbage collector.

    A served dashboard holds ~350,000 container objects that never die (the modules, classes
    and functions of Panel, HoloViews, Bokeh, pandas, and the engine), and the redraws of live
    charts allocate enough to set off a full collection every few seconds, each one scanning
    all of them: 0.4-0.6 s with the loop stopped, felt as a control that answers late.
    `gc.freeze()` moves everything alive now into a generation no collection scans (objects
    still go when their last reference does), and full collections are made rarer (below).
    Only in a served process, once, when the first session asks for the engine: sessions come
    and go, and a frozen one would never be collected (the first session's few objects made
    by then stay with the process).
    """
    gc.collect()
    gc.freeze()
    # What the sessions add (their documents, plots, the engine's books) is still ~200,000
    # objects, a tenth of a second or more per full collection. Collect the young generation
    # after 10,000 allocations instead of 700, so full collections come about 14 times less
    # often; each collection of the young is still small (milliseconds).
    _, middle, old = gc.get_threshold()
    gc.set_threshold(10_000, middle, old)
    log.info("heap settled: %d objects exempt from garbage collection", gc.get_freeze_count())


def get_engine() -> Engine:
    return get_runtime().engine


def runtimes_created() -> int:
    return _created


def shutdown() -> None:
    global _RUNTIME
    with _LOCK:
        if _RUNTIME is not None:
            _RUNTIME.stop()
            _RUNTIME = None


async def shutdown_async() -> None:
    """`shutdown` from a coroutine on the engine's loop (a signal handler of the server)."""
    global _RUNTIME
    with _LOCK:
        runtime, _RUNTIME = _RUNTIME, None
    if runtime is not None:
        await runtime.stop_async()
