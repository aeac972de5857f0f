"""`orderflow backfill`: history into the store, from REST or from data.binance.vision archives.

    orderflow backfill --symbols BTCUSDT,ETHUSDT --since 2h [--rest-url URL] --db PATH
    orderflow backfill --archive [BASE] --symbols all --start 2024-01-01 --end 2024-01-31 --db PATH

Both write through the store writer (exactly once by aggregate id; a rerun adds nothing) and
keep what they import forever unless `--retention-trades` / `--retention-profiles` say
otherwise. Bad input ends with one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from pathlib import Path

from pipelines.binance import endpoints as ep
from pipelines.binance import vision
from pipelines.binance.contracts import PERPETUAL, ContractSpec, parse_exchange_info
from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.backfill import HistoryError, HistoryLoader, LoadProgress
from pipelines.engine.rest import RestClient, RestError
from pipelines.records.timeunits import SECOND_MS, parse_duration_ms
from pipelines.storage.archive_import import ImportReport, days_between, import_archive
from pipelines.storage.retention import Retention
from pipelines.storage.schema import SchemaError, default_db_path
from pipelines.storage.writer import StoreWriter

EXIT_USAGE = 2
EXIT_PARTIAL = 1
_RESERVE = 480  # weight per minute left to a live engine on the same IP (its gap fills)


class BackfillError(ValueError):
    """Bad input or an unusable source, said in one line."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "backfill",
        help="load history into the store: REST (--since) or data.binance.vision (--archive)",
        description="REST: the last --since of each contract's aggTrades (weight 20 per 1000 "
        "trades). Archive: daily aggTrades files, UTC days --start..--end inclusive, from "
        f"{vision.DEFAULT_BASE} or a local directory with its layout, sha256-checked.",
    )
    p.add_argument("--symbols", required=True, help="comma-separated contracts, or 'all'")
    p.add_argument("--since", help="REST: how far back, e.g. 90m, 2h, 1d")
    p.add_argument(
        "--archive",
        nargs="?",
        const=vision.DEFAULT_BASE,
        metavar="BASE",
        help=f"archive root URL or local directory (default {vision.DEFAULT_BASE})",
    )
    p.add_argument("--start", type=_date, help="archive: first UTC day, YYYY-MM-DD")
    p.add_argument("--end", type=_date, help="archive: last UTC day (inclusive)")
    p.add_argument("--rest-url", default=None, help=f"REST base (default {ep.BINANCE_REST_URL})")
    p.add_argument("--db", default=str(default_db_path()), help="SQLite store path")
    p.add_argument("--cache", type=Path, help="archive: where downloaded files are kept")
    add_retention_options(p, trades="0", profiles="0")
    p.add_argument("--quiet", action="store_true", help="no progress")
    p.set_defaults(func=run)


def add_retention_options(parser: argparse.ArgumentParser, *, trades: str, profiles: str) -> None:
    """`--retention-trades` / `--retention-profiles` (0 keeps forever), for every writer."""
    parser.add_argument(
        "--retention-trades",
        default=trades,
        help=f"keep raw trades this long, e.g. 48h, 30d; 0 = forever (default {trades})",
    )
    parser.add_argument(
        "--retention-profiles",
        default=profiles,
        help=f"keep 1-minute tick profiles and bars this long; 0 = forever (default {profiles})",
    )


def retention_of(args: argparse.Namespace) -> Retention:
    """The retention the options ask for; ValueError in one line when they do not fit."""
    return Retention(
        trades_ms=parse_duration_ms(args.retention_trades),
        minutes_ms=parse_duration_ms(args.retention_profiles),
    )


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def run(args: argparse.Namespace) -> int:
    try:
        retention = retention_of(args)
        if args.archive is not None:
            return _run_archive(args, retention)
        if not args.since:
            raise BackfillError("give --since (REST) or --archive with --start and --end")
        return asyncio.run(_run_rest(args, retention))
    except (BackfillError, HistoryError, SchemaError, ValueError, OSError) as exc:
        print(f"orderflow backfill: {exc}", file=sys.stderr)
        return EXIT_USAGE


# ---------------------------------------------------------------------- REST


async def _run_rest(args: argparse.Namespace, retention: Retention) -> int:
    since_ms = parse_duration_ms(args.since)
    if since_ms <= 0:
        raise BackfillError(f"--since must be positive, got {args.since!r}")
    url = args.rest_url or ep.BINANCE_REST_URL
    async with RestClient(url) as rest:
        specs, now_ms = await _contracts(rest, url)
        symbols = _chosen(args.symbols, specs)
        registry = SymbolRegistry([specs[s] for s in symbols])
        show = _Progress(args.quiet)
        failed, weight = [], 0
        with StoreWriter(args.db, registry, retention=retention) as writer:
            loader = HistoryLoader(
                rest, registry, sink=lambda: writer.submit, reserve_weight=_RESERVE
            )
            for symbol in symbols:
                progress = LoadProgress(symbol, now_ms - since_ms)
                task = asyncio.create_task(loader.load(progress))
                while not task.done():
                    show.rest(progress)
                    await asyncio.wait({task}, timeout=0.5)
                try:
                    task.result()
                except HistoryError as exc:
                    failed.append(str(exc))
                show.rest(progress, final=True)
                weight += progress.weight
            await asyncio.to_thread(writer.flush)
            written = writer.status().trades_written
    for line in failed:
        print(f"orderflow backfill: {line}", file=sys.stderr)
    print(
        f"REST: {len(symbols)} contracts, {written:,} new trades into {args.db}, "
        f"request weight {weight:,}, throttled {rest.stats.throttled}"
    )
    return EXIT_PARTIAL if failed else 0


async def _contracts(rest: RestClient, url: str) -> tuple[dict[str, ContractSpec], int]:
    """USD-M perpetuals by symbol, and the exchange's clock (ms)."""
    try:
        info = await rest.exchange_info()
    except RestError as exc:
        raise BackfillError(f"the exchange at {url} is unreachable ({exc})") from None
    specs = {s.symbol: s for s in parse_exchange_info(info, contract_types=(PERPETUAL,))}
    return specs, int(info.get("serverTime") or time.time() * SECOND_MS)


def _chosen(text: str, specs: dict[str, ContractSpec]) -> list[str]:
    if text.strip().lower() == "all":
        return sorted(specs)
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    unknown = [s for s in symbols if s not in specs]
    if unknown:
        raise BackfillError(f"unknown symbol(s) {', '.join(unknown)}: not USD-M perpetuals")
    if not symbols:
        raise BackfillError("--symbols names no contract")
    return symbols


# ---------------------------------------------------------------------- archive


def _run_archive(args: argparse.Namespace, retention: Retention) -> int:
    if args.start is None or args.end is None:
        raise BackfillError("--archive needs --start and --end (UTC days, YYYY-MM-DD)")
    days = days_between(args.start, args.end)
    base = str(args.archive)
    if not vision.is_remote(base) and not Path(base).is_dir():
        raise BackfillError(f"no archive directory at {base}")
    specs: dict[str, ContractSpec] = {}
    if args.symbols.strip().lower() == "all" or args.rest_url:
        url = args.rest_url or ep.BINANCE_REST_URL
        specs = asyncio.run(_specs_only(url))
        symbols = _chosen(args.symbols, specs)
    else:
        symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
        for symbol in symbols:  # a local mirror says which contracts it holds
            if not vision.is_remote(base) and not vision.symbol_dir(base, symbol).is_dir():
                raise BackfillError(
                    f"unknown symbol {symbol}: no {vision.symbol_dir(base, symbol)}"
                )
    show = _Progress(args.quiet)
    report = import_archive(
        base, symbols, days, args.db, specs=specs, cache=args.cache, retention=retention,
        progress=show.archive,
    )  # fmt: skip
    for line in report.errors:
        print(f"orderflow backfill: {line}", file=sys.stderr)
    print(
        f"archive: {report.files} files imported, {report.skipped} already imported, "
        f"{len(report.missing)} absent, {len(report.errors)} refused; {report.trades_read:,} "
        f"trades read, {report.trades_written:,} new, {report.trades_per_second:,.0f} trades/s "
        f"-> {args.db}"
    )
    return EXIT_PARTIAL if report.errors else 0


async def _specs_only(url: str) -> dict[str, ContractSpec]:
    async with RestClient(url) as rest:
        return (await _contracts(rest, url))[0]


class _Progress:
    """One updating line on a terminal; on a pipe, a line per finished step."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()

    def _show(self, text: str, final: bool) -> None:
        if self.quiet or not (self.tty or final):
            return
        end = "\n" if final else ""
        print(f"\r{text:<100}" if self.tty else text, end=end, file=sys.stderr, flush=True)

    def rest(self, p: LoadProgress, final: bool = False) -> None:
        eta = p.eta_s
        left = f", {eta:,.0f} s left" if eta is not None and not p.done else ""
        self._show(
            f"{p.symbol}: {_bar(p.share)} {p.share:4.0%} {p.trades:,} trades, "
            f"weight {p.weight:,}{left}{' ' + p.error if p.error else ''}",
            final,
        )

    def archive(self, done: int, total: int, r: ImportReport) -> None:
        self._show(
            f"{_bar(done / total)} {done}/{total} files, {r.trades_read:,} trades, "
            f"{r.trades_per_second:,.0f} trades/s, {len(r.errors)} refused",
            done == total,
        )


def _bar(share: float, width: int = 24) -> str:
    full = int(share * width)
    return "[" + "#" * full + "." * (width - full) + "]"
