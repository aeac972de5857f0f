"""`orderflow ingest`: the engine without the UI, persisting to the store."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from pipelines.binance import endpoints as ep
from pipelines.binance.contracts import DELIVERY_TYPES, PERPETUAL, TRADIFI_PERPETUAL
from pipelines.engine.backfill_cli import add_retention_options, retention_of
from pipelines.engine.service import Engine, EngineConfig
from pipelines.storage.schema import default_db_path

log = logging.getLogger("orderflow.ingest")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ingest",
        help="run the engine headless and persist to the store",
        description="Watch every USD-M contract and write what arrives to the store. "
        "Defaults point at Binance; `orderflow simulate` prints the stand-in's URLs.",
    )
    p.add_argument("--rest-url", default=ep.BINANCE_REST_URL)
    p.add_argument("--ws-url", default=ep.BINANCE_WS_URL)
    p.add_argument("--db", default=str(default_db_path()), help="SQLite store path")
    p.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    add_retention_options(p, trades="48h", profiles="30d")
    p.add_argument("--symbols", default=None, help="comma-separated subset of contracts")
    p.add_argument("--tradfi", action="store_true", help="include TradFi perpetuals")
    p.add_argument("--delivery", action="store_true", help="include delivery contracts")
    p.add_argument("--no-depth", action="store_true", help="skip partial depth (book imbalance)")
    p.add_argument("--status-every", type=float, default=10.0, help="log status every S seconds")
    p.add_argument(
        "--reconcile",
        action="store_true",
        help="before exiting, fetch every symbol's newest trades from REST (weight 20 each)",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        retention = retention_of(args)
    except ValueError as exc:
        print(f"orderflow ingest: {exc}", file=sys.stderr)
        return 2
    types = [PERPETUAL]
    if args.tradfi:
        types.append(TRADIFI_PERPETUAL)
    if args.delivery:
        types.extend(DELIVERY_TYPES)
    config = EngineConfig(
        rest_url=args.rest_url,
        ws_url=args.ws_url,
        contract_types=tuple(types),
        symbols=tuple(args.symbols.split(",")) if args.symbols else None,
        book_depth=not args.no_depth,
        db_path=args.db,
        retention=retention,
    )
    return asyncio.run(_ingest(config, args))


async def _ingest(config: EngineConfig, args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    engine = Engine(config)
    await engine.start()
    log.info("ingesting %d contracts into %s", len(engine.registry.active), config.db_path)
    deadline = None if args.duration is None else loop.time() + args.duration
    try:
        while not stop.is_set():
            wait = args.status_every
            if deadline is not None:
                wait = min(wait, deadline - loop.time())
                if wait <= 0:
                    break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
            _log_status(engine)
        if args.reconcile:
            log.info("reconciled %d trades", await engine.reconcile())
    finally:
        await engine.stop()  # flushes the last batch and drains the writer
    _log_status(engine)
    return 0


def _log_status(engine: Engine) -> None:
    s = engine.status()
    log.info(
        "%d/%d connections up, %d contracts, %.0f frames/s, %.0f trades/s, lag %s ms, "
        "gaps %d found / %d filled / %d open / %d lost, rejected %d, weight %d",
        s.connections_up, len(s.connections), s.symbols, s.frames_per_s, s.trades_per_s,
        f"{s.lag_ms:.0f}" if s.lag_ms is not None else "-", s.gaps_found, s.gaps_filled,
        s.gaps_open, s.gaps_abandoned, s.rejected_frames, s.rest_weight_used,
    )  # fmt: skip
