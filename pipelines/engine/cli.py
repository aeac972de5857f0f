"""`orderflow ingest`: the engine without the UI, persisting to the store.

A bad store file is refused in one line before anything starts; an exchange that does not
answer is retried with backoff (one line per attempt); SIGTERM stops it as Ctrl-C does: the
last batch is flushed, the writer drains, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from pipelines.binance import endpoints as ep
from pipelines.binance.contracts import DELIVERY_TYPES, PERPETUAL, TRADIFI_PERPETUAL
from pipelines.engine.backfill_cli import add_retention_options, retention_of
from pipelines.engine.options import (
    add_books_option,
    add_endpoint_options,
    add_warm_hours_option,
    books_of,
    endpoints_of,
    warm_hours_of,
)
from pipelines.engine.service import Engine, EngineConfig
from pipelines.engine.startup import start_when_reachable
from pipelines.shutdown import stop_on_signals
from pipelines.storage.faults import check_store
from pipelines.storage.schema import default_db_path

log = logging.getLogger("orderflow.ingest")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ingest",
        help="run the engine headless and persist to the store",
        description="Watch every USD-M contract and write what arrives to the store. "
        "Defaults point at Binance; `orderflow simulate` prints the stand-in's URLs.",
    )
    add_endpoint_options(p)
    p.add_argument("--db", default=str(default_db_path()), help="SQLite store path")
    p.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    add_retention_options(p, trades="48h", profiles="30d")
    p.add_argument("--symbols", default=None, help="comma-separated subset of contracts")
    p.add_argument("--tradfi", action="store_true", help="include TradFi perpetuals")
    p.add_argument("--delivery", action="store_true", help="include delivery contracts")
    p.add_argument("--no-depth", action="store_true", help="skip partial depth (book imbalance)")
    p.add_argument("--status-every", type=float, default=10.0, help="log status every S seconds")
    p.add_argument(
        "--buffer-minutes",
        type=float,
        default=EngineConfig().buffer_retention_s / 60,
        help="raw trades kept in memory (older ones are read from the store)",
    )
    p.add_argument(
        "--store-cache-mb",
        type=int,
        default=EngineConfig().store_cache_mb,
        help="the store writer's SQLite page cache (resident once the store has filled it)",
    )
    add_warm_hours_option(p)
    add_books_option(p)
    p.add_argument(
        "--reconcile",
        action="store_true",
        help="before exiting, fetch every symbol's newest trades from REST (weight 20 each)",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        retention = retention_of(args)
        warm_hours = warm_hours_of(args)
        books = books_of(args.books)
        if args.store_cache_mb < 1:
            raise ValueError(f"--store-cache-mb must be at least 1, got {args.store_cache_mb}")
    except ValueError as exc:
        print(f"orderflow ingest: {exc}", file=sys.stderr)
        return 2
    types = [PERPETUAL]
    if args.tradfi:
        types.append(TRADIFI_PERPETUAL)
    if args.delivery:
        types.extend(DELIVERY_TYPES)
    rest_url, ws_url = endpoints_of(args)
    check_store(args.db)  # a bad file: one line (pipelines/cli.py), before anything starts
    config = EngineConfig(
        rest_url=rest_url or ep.BINANCE_REST_URL,
        ws_url=ws_url or ep.BINANCE_WS_URL,
        contract_types=tuple(types),
        symbols=tuple(args.symbols.split(",")) if args.symbols else None,
        book_depth=not args.no_depth,
        db_path=args.db,
        buffer_retention_s=args.buffer_minutes * 60,
        store_cache_mb=args.store_cache_mb,
        retention=retention,
        warm_hours=warm_hours,
        books=books,
    )
    return asyncio.run(_ingest(config, args))


async def _ingest(config: EngineConfig, args: argparse.Namespace) -> int:
    """0 after a clean stop (signal or --duration); 1 when the exchange was never reached."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    stop_on_signals(loop, stop.set)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    engine = Engine(config)
    try:
        if not await start_when_reachable(engine, stop):
            log.error("stopped before %s could be reached", config.rest_url)
            return 1
        log.info("ingesting %d contracts into %s", len(engine.registry.active), config.db_path)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=args.status_every)
            _log_status(engine)
        if args.reconcile:
            log.info("reconciled %d trades", await engine.reconcile())
    finally:
        await engine.stop()  # flushes the last batch and drains the writer
    _log_status(engine)
    written = engine.writer.status().trades_written if engine.writer else 0
    log.info("stopped: %d trades taken, %d written to the store", engine.status().trades_taken,
             written)  # fmt: skip
    return 0


def _log_status(engine: Engine) -> None:
    s = engine.status()
    log.info(
        "%d/%d connections up, %d contracts, %.0f frames/s, %.0f trades/s, lag %s ms, "
        "gaps %d found / %d filled / %d open / %d lost, rejected %d, weight %d, buffer %.0f MB, "
        "store %s",
        s.connections_up, len(s.connections), s.symbols, s.frames_per_s, s.trades_per_s,
        f"{s.lag_ms:.0f}" if s.lag_ms is not None else "-", s.gaps_found, s.gaps_filled,
        s.gaps_open, s.gaps_abandoned, s.rejected_frames, s.rest_weight_used, s.buffer_bytes / 2**20,
        f"{s.store_fault}, {s.store_waiting:,} trades waiting" if s.store_fault else "ok",
    )  # fmt: skip
