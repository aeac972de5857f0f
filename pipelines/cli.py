"""`orderflow` command line: one subcommand per module that owns it."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

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
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
