"""What every command that runs the engine takes on its command line: the exchange endpoints,
the minute history loaded at start and the local order books kept from the start.

`--rest-url`/`--ws-url` point at any endpoint (a proxy, a regional host, the stand-in);
`--testnet` picks Binance's USD-M futures testnet; an explicit URL wins over `--testnet`.
`orderflow ingest`, `serve` and `demo` add these with `add_endpoint_options` and read them back
with `endpoints_of` (`panel serve dashboard/app.py` reads ORDERFLOW_REST_URL/ORDERFLOW_WS_URL).
"""

from __future__ import annotations

import argparse

from pipelines.binance import endpoints as ep
from pipelines.engine.books import MAX_BOOKS


def add_endpoint_options(parser: argparse.ArgumentParser, *, default: str = "Binance") -> None:
    parser.add_argument("--rest-url", default=None, help=f"REST base URL (default: {default})")
    parser.add_argument("--ws-url", default=None, help=f"websocket base URL (default: {default})")
    parser.add_argument(
        "--testnet",
        action="store_true",
        help=f"Binance's USD-M futures testnet ({ep.TESTNET_REST_URL}, {ep.TESTNET_WS_URL})",
    )


def endpoints_of(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(rest_url, ws_url) the options ask for; None where they leave the default."""
    return ep.resolve_urls(args.rest_url, args.ws_url, testnet=args.testnet)


def add_warm_hours_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--warm-hours",
        type=float,
        default=8.0,
        metavar="H",
        help="minute history of every contract from 1m klines at start (0: none; at most 24)",
    )


def warm_hours_of(args: argparse.Namespace) -> float:
    """The checked --warm-hours; ValueError in one line when out of range."""
    hours = float(args.warm_hours)
    if not 0 <= hours <= 24:
        raise ValueError(f"--warm-hours must be between 0 and 24, got {args.warm_hours}")
    return hours


def add_books_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--books",
        default="",
        metavar="A,B",
        help="contracts whose full local order book (and its history) is kept from the start; "
        "a heatmap opens more (at most 20 at once)",
    )


def books_of(text: str) -> tuple[str, ...]:
    """The contracts of a --books value (or ORDERFLOW_BOOKS), uppercased; ValueError in one
    line past the 20 books the engine keeps at once."""
    symbols = tuple(dict.fromkeys(s.strip().upper() for s in text.split(",") if s.strip()))
    if len(symbols) > MAX_BOOKS:
        raise ValueError(f"--books takes at most {MAX_BOOKS} contracts, got {len(symbols)}")
    return symbols
