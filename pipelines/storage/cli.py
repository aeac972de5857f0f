"""`orderflow export`: stored trades, a footprint or signals of one symbol to Parquet or CSV."""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from pathlib import Path

from pipelines.storage.export import (
    FORMATS,
    export_book,
    export_footprint,
    export_signals,
    export_trades,
    format_of,
    parse_time,
)
from pipelines.storage.faults import describe
from pipelines.storage.schema import SchemaError, StoreNotFoundError, default_db_path
from pipelines.storage.store import Store, UnknownSymbolError

EXIT_USAGE = 2

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export stored trades, a footprint, signals or a book's history to Parquet or CSV",
        description="Export one symbol's stored trades (data.binance.vision aggTrades layout), "
        "its footprint (levels and bars files), its order-flow signals or its order book at "
        "every second (time, side, price, quantity) for a time range.",
    )
    parser.add_argument("--symbol", required=True, help="contract, e.g. BTCUSDT")
    parser.add_argument("--start", required=True, help="epoch ms or ISO-8601 (UTC by default)")
    parser.add_argument("--end", required=True, help="epoch ms or ISO-8601, exclusive")
    parser.add_argument("--format", choices=FORMATS, help="default: from the --out suffix")
    parser.add_argument(
        "--what", choices=("trades", "footprint", "signals", "book"), default="trades"
    )
    parser.add_argument("--bin", type=int, default=1, help="footprint price bin, in ticks")
    parser.add_argument("--timeframe", default="1m", help="footprint bar length (1m, 5m, ...)")
    parser.add_argument("--out", required=True, type=Path, help="output file")
    parser.add_argument(
        "--db", type=Path, default=None, help=f"database file (default {default_db_path()})"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    db = args.db or default_db_path()
    try:
        start, end = parse_time(args.start), parse_time(args.end)
        if end <= start:
            raise ValueError(f"--end ({args.end}) must be after --start ({args.start})")
        fmt = format_of(args.out, args.format)
        with Store(db) as store:
            if args.what == "trades":
                n = export_trades(store, args.symbol, start, end, args.out, fmt)
                print(f"wrote {n} trades of {args.symbol} to {args.out}")
            elif args.what == "book":
                n = export_book(store, args.symbol, start, end, args.out, fmt)
                print(f"wrote the book of {args.symbol} at {n} seconds to {args.out}")
            elif args.what == "signals":
                n = export_signals(store, args.symbol, start, end, args.out, fmt)
                print(f"wrote {n} signals of {args.symbol} to {args.out}")
            else:
                done = export_footprint(
                    store,
                    args.symbol,
                    start,
                    end,
                    args.out,
                    fmt,
                    price_bin_ticks=args.bin,
                    timeframe=args.timeframe,
                )
                print(
                    f"wrote {done.bars} bars to {done.bars_path} and {done.levels} levels to "
                    f"{done.levels_path} (built from {done.source})"
                )
    except StoreNotFoundError:
        print(f"orderflow export: no database at {db} (pass --db PATH)", file=sys.stderr)
        return EXIT_USAGE
    except (UnknownSymbolError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, UnknownSymbolError) else exc
        print(f"orderflow export: {message}", file=sys.stderr)
        return EXIT_USAGE
    except (SchemaError, sqlite3.Error) as exc:  # newer schema, not a database, locked
        log.debug("export failed", exc_info=exc)
        print(f"orderflow export: {describe(exc, db)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the output file
        log.debug("export failed", exc_info=exc)
        print(f"orderflow export: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0
