"""What every command that runs the engine takes on its command line: the exchange endpoints.

`--rest-url`/`--ws-url` point at any endpoint (a proxy, a regional host, the stand-in);
`--testnet` picks Binance's USD-M futures testnet; an explicit URL wins over `--testnet`.
`orderflow ingest`, `serve` and `demo` add these with `add_endpoint_options` and read them back
with `endpoints_of` (`panel serve dashboard/app.py` reads ORDERFLOW_REST_URL/ORDERFLOW_WS_URL).
"""

from __future__ import annotations

import argparse

from pipelines.binance import endpoints as ep


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
