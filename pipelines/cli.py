"""`orderflow` command line: one subcommand per module that owns it.

An expected fault (a store file that cannot be used) ends a command with one line on stderr
and exit code 2; `--log-level DEBUG` adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from pipelines.storage.faults import StoreUnavailableError

log = logging.getLogger("orderflow")
EXIT_FAULT = 2
# Each module exposes `register(subparsers)`, adding its subcommand with `func=` set.
_SUBCOMMAND_MODULES = (
    "pipelines.standin.cli",
    "pipelines.engine.cli",
    "pipelines.engine.backfill_cli",
    "pipelines.storage.cli",
    "pipelines.research.cli",
    "dashboard.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orderflow",
        description="Live order-flow screener for Binance USD-M futures.",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in _SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except StoreUnavailableError as exc:
        log.debug("%s failed", args.command, exc_info=exc)
        print(f"orderflow {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAULT


if __name__ == "__main__":
    sys.exit(main())
