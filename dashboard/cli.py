"""`orderflow serve` and `orderflow demo`: the dashboard on a Bokeh/Panel server.

The engine starts with the server (not with the first browser), on the server's loop, so data
is already flowing when someone opens the page. One process, one engine, any number of tabs.

Serving on anything but loopback requires authentication, Panel's own: `--basic-auth` (a
password, or a JSON file of users and passwords) or the OAuth options; without one the command
refuses to start. SIGTERM stops it as Ctrl-C does: the engine flushes, the writer drains, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import secrets
import sys

from dashboard import runtime
from pipelines.engine.backfill_cli import add_retention_options, retention_of
from pipelines.engine.options import (
    add_books_option,
    add_endpoint_options,
    add_warm_hours_option,
    books_of,
    endpoints_of,
    warm_hours_of,
)
from pipelines.records.timeunits import SECOND_MS, parse_duration_ms
from pipelines.shutdown import stop_on_signals
from pipelines.storage.schema import default_db_path

log = logging.getLogger(__name__)

EXIT_REFUSED = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="serve the dashboard (Binance, or --demo)")
    _add_options(serve)
    serve.add_argument(
        "--demo", action="store_true", help="feed from the exchange stand-in on loopback"
    )
    serve.add_argument("--show", action="store_true", help="open a browser")
    serve.set_defaults(func=run)
    demo = subparsers.add_parser("demo", help="serve the dashboard on the exchange stand-in")
    _add_options(demo)
    demo.set_defaults(func=run, demo=True, show=False)


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address", default="127.0.0.1", help="interface to bind (default loopback)"
    )
    parser.add_argument("--port", type=int, default=5006)
    parser.add_argument(
        "--db",
        default=None,
        help="SQLite store for trades, minute profiles and events (default for Binance: "
        f"{default_db_path()}; demo mode keeps nothing unless given)",
    )
    parser.add_argument("--no-db", action="store_true", help="keep nothing on disk")
    parser.add_argument("--symbols", default="", help="comma-separated contracts (default: all)")
    add_endpoint_options(parser, default="Binance, or the stand-in in demo mode")
    parser.add_argument("--demo-symbols", type=int, default=runtime.RuntimeSettings.demo_symbols)
    parser.add_argument(
        "--demo-rate",
        type=float,
        default=runtime.RuntimeSettings.demo_rate,
        help="stand-in trades/s",
    )
    parser.add_argument("--demo-seed", type=int, default=runtime.RuntimeSettings.demo_seed)
    auth = parser.add_argument_group(
        "authentication (Panel's; required to bind anything but loopback)"
    )
    auth.add_argument(
        "--basic-auth", metavar="PASSWORD|USERS.json", help="a password, or a JSON file of users"
    )
    auth.add_argument("--cookie-secret", help="signs the login cookie (default: generated)")
    auth.add_argument("--oauth-provider", help="e.g. github, google, azure, generic")
    auth.add_argument("--oauth-key")
    auth.add_argument("--oauth-secret")
    auth.add_argument("--oauth-redirect-uri")
    auth.add_argument("--oauth-encryption-key")
    parser.add_argument(
        "--demo-history",
        default="1d",
        help="the stand-in's generated past, e.g. 6h, 1d, 3d (default 1d)",
    )
    parser.add_argument(
        "--history-hours",
        type=float,
        default=runtime.RuntimeSettings.history_hours,
        help="hours of REST history a footprint loads when a contract opens (0: none)",
    )
    add_warm_hours_option(parser)
    add_books_option(parser)
    parser.add_argument(
        "--research",
        metavar="DIR",
        default=None,
        help="an `orderflow research` output directory: the Signals tab shows each signal's "
        "record (returns after it, hit rate) from it",
    )
    add_retention_options(parser, trades="48h", profiles="30d")


def settings_of(args: argparse.Namespace) -> runtime.RuntimeSettings:
    """The runtime settings the options ask for; ValueError in one line for bad values."""
    symbols = tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip())
    rest_url, ws_url = endpoints_of(args)
    return runtime.RuntimeSettings(
        demo=bool(args.demo),
        demo_symbols=args.demo_symbols,
        demo_rate=args.demo_rate,
        demo_seed=args.demo_seed,
        demo_history_s=parse_duration_ms(args.demo_history) / SECOND_MS,
        history_hours=args.history_hours,
        warm_hours=warm_hours_of(args),
        books=books_of(args.books),
        retention=retention_of(args),
        symbols=symbols or None,
        db_path=_db_path(args),
        rest_url=rest_url,
        ws_url=ws_url,
        research_dir=args.research,
    )


def _db_path(args: argparse.Namespace) -> str | None:
    # The stand-in's market must not mix with a real history: demo writes only where told.
    if args.no_db:
        return None
    if args.db:
        return args.db
    return None if args.demo else str(default_db_path())


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def auth_options(args: argparse.Namespace) -> dict[str, str]:
    """`pn.serve` keyword arguments for the authentication asked for (empty: none)."""
    keys = ("basic_auth", "oauth_provider", "oauth_key", "oauth_secret", "oauth_redirect_uri",
            "oauth_encryption_key")  # fmt: skip
    options = {key: value for key in keys if (value := getattr(args, key))}
    if options:
        # Panel signs the login cookie with it; one per process unless given.
        options["cookie_secret"] = args.cookie_secret or secrets.token_urlsafe(32)
    return options


def run(args: argparse.Namespace) -> int:
    import panel as pn

    from dashboard.app import create_app

    auth = auth_options(args)
    if not is_loopback(args.address) and not ({"basic_auth", "oauth_provider"} & auth.keys()):
        print(
            f"orderflow {args.command}: refusing to serve on {args.address} without "
            "authentication: pass --basic-auth PASSWORD (or a JSON file of users and "
            "passwords) or --oauth-provider ..., or bind --address 127.0.0.1",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    try:
        runtime.configure(settings_of(args))
    except ValueError as exc:
        print(f"orderflow {args.command}: {exc}", file=sys.stderr)
        return 2
    origins = [f"{args.address}:{args.port}", f"localhost:{args.port}", f"127.0.0.1:{args.port}"]
    server = pn.serve(
        {"/": create_app}, address=args.address, port=args.port, show=False, start=False,
        websocket_origin=origins, title="Order flow", **auth,
    )  # fmt: skip
    server.io_loop.add_callback(runtime.get_runtime)
    loop = server.io_loop.asyncio_loop

    async def stop() -> None:
        await runtime.shutdown_async()  # the engine flushes, the writer drains
        server.io_loop.stop()

    stopping: list[asyncio.Task] = []  # a reference, so the task is not collected mid-way
    stop_on_signals(loop, lambda: stopping.append(loop.create_task(stop())))
    print(f"orderflow dashboard: http://{args.address}:{server.port}/", flush=True)
    if args.show:
        server.io_loop.add_callback(server.show, "/")
    try:
        server.start()
        server.io_loop.start()
    finally:
        runtime.shutdown()  # whatever a stop that did not finish left running
    return 0
