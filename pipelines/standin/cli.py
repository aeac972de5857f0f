"""`orderflow simulate`: run the Binance USD-M stand-in on this machine."""

from __future__ import annotations

import argparse
import asyncio
import logging

from pipelines.binance.endpoints import CONNECTION_LIFETIME_S, SERVER_PING_INTERVAL_S
from pipelines.records.timeunits import SECOND_MS, parse_duration_ms
from pipelines.shutdown import stop_on_signals
from pipelines.standin.faults import FAULTS_HELP, FaultSpec
from pipelines.standin.server import PONG_TIMEOUT_S, StandIn

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run a local Binance USD-M stand-in (REST + websocket streams)",
        description=(
            "Serve a generated USD-M market (or replay a capture) with Binance's REST and "
            "websocket protocol on this machine, so the screener runs offline. Point the "
            "engine's REST and websocket base URLs at the printed addresses."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="faults: " + FAULTS_HELP,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--symbols", type=int, default=600, help="trading contracts to list")
    parser.add_argument(
        "--rate", type=float, default=2000.0, help="mean aggTrades per second across all contracts"
    )
    parser.add_argument("--seed", type=int, default=1, help="same seed, same market")
    parser.add_argument("--truth", metavar="PATH", help="write every generated trade to this CSV")
    parser.add_argument("--faults", default="", metavar="SPEC", help="fault injection, see below")
    parser.add_argument(
        "--lifetime",
        type=float,
        default=CONNECTION_LIFETIME_S,
        metavar="S",
        help="close websocket connections after S seconds (Binance: 24 h)",
    )
    parser.add_argument(
        "--ping-interval",
        type=float,
        default=SERVER_PING_INTERVAL_S,
        metavar="S",
        help="server ping period (Binance: 180 s)",
    )
    parser.add_argument(
        "--pong-timeout",
        type=float,
        default=PONG_TIMEOUT_S,
        metavar="S",
        help="close a connection whose pong is this late (Binance: 600 s)",
    )
    parser.add_argument(
        "--replay",
        metavar="FILE",
        help="replay a capture (cryptofeed raw, hftbacktest, JSONL; gz or not) "
        "instead of generating a market",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="replay speed factor")
    parser.add_argument(
        "--hold",
        action="store_true",
        help="start the replay's clock with the first subscription, not at start-up",
    )
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    parser.add_argument(
        "--retention",
        type=float,
        default=7200.0,
        metavar="S",
        help="keep trades for REST aggTrades this long (capped by --max-trades)",
    )
    parser.add_argument(
        "--history",
        type=duration,
        default=0.0,
        metavar="DURATION",
        help="a generated past before the start (e.g. 90m, 6h, 3d) for REST and the archive",
    )
    parser.add_argument(
        "--klines-ready",
        type=float,
        default=8.0,
        metavar="HOURS",
        help="prepare the klines of the past's newest HOURS of every contract in the background "
        "from the start, as an exchange holds its bars (0: computed when asked)",
    )
    parser.add_argument(
        "--max-trades",
        type=int,
        default=10_000_000,
        help="keep at most this many trades for REST aggTrades",
    )
    parser.set_defaults(func=run)


def duration(text: str) -> float:
    """`90m`, `6h`, `3d` or plain seconds, in seconds."""
    try:
        return parse_duration_ms(text) / SECOND_MS
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    try:
        faults = FaultSpec.parse(args.faults)
    except ValueError as exc:
        log.error("--faults: %s", exc)
        return 2
    try:
        standin = StandIn(
            symbols=args.symbols,
            rate=args.rate,
            seed=args.seed,
            host=args.host,
            port=args.port,
            truth_path=args.truth,
            faults=faults,
            lifetime_s=args.lifetime,
            ping_interval_s=args.ping_interval,
            pong_timeout_s=args.pong_timeout,
            replay=args.replay,
            speed=args.speed,
            hold=args.hold,
            retention_s=args.retention,
            klines_ready_h=args.klines_ready,
            max_trades=args.max_trades,
            history_s=args.history,
        )
    except (ValueError, OSError) as exc:  # bad replay file, bad sizes
        log.error("cannot start the stand-in: %s", exc)
        return 2
    asyncio.run(_serve(standin, args.duration))
    return 0


async def _serve(standin: StandIn, duration: float | None) -> None:
    # SIGTERM as Ctrl-C: leaving `async with` closes the sockets and flushes the truth file,
    # which holds every trade before it is sent.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    stop_on_signals(loop, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)
    async with standin:
        print(f"rest: {standin.rest_url}  ws: {standin.ws_url}", flush=True)
        await stop.wait()
