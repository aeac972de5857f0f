"""History into the store: REST backfill of a BTCUSDT-like contract, and archive import.

REST: the stand-in (with a generated past) makes BTCUSDT trade `--btc-rate` aggTrades/s; the
history loader backfills `--hours` of it into a fresh store, once inside Binance's weight budget
(2,400 a minute, the client stops at 80 %, 480 kept for gap fills) and once with no budget (the
transport and the store alone). The baseline fetches the same pages by fromId with a bare
aiohttp loop that only decodes the JSON.

Archive: one complete day of that contract, downloaded from the stand-in's archive into a
local mirror, then imported into a fresh store (`orderflow backfill --archive` does this). The
baseline only reads the same file (`read_agg_trades_csv`).

    python -m benchmarks.bench_backfill [--btc-rate 30] [--hours 2] [--no-budget-run]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

from pipelines.binance import endpoints as ep
from pipelines.binance import vision
from pipelines.binance.archive import read_agg_trades_csv
from pipelines.binance.contracts import parse_exchange_info
from pipelines.binance.registry import SymbolRegistry
from pipelines.engine.backfill import HistoryLoader, LoadProgress
from pipelines.engine.rest import RestClient
from pipelines.records.timeunits import HOUR_MS
from pipelines.standin.server import StandIn
from pipelines.storage.archive_import import import_archive
from pipelines.storage.retention import Retention
from pipelines.storage.writer import StoreWriter

SYMBOL = "BTCUSDT"
BTC_SHARE = 0.15  # of the stand-in's rate (docs/standin.md)
RESERVE = 480


async def rest_load(
    url: str, db: Path, start_ms: int, *, unlimited: bool
) -> tuple[float, LoadProgress]:
    async with RestClient(url) as rest:
        if unlimited:
            rest.weight_budget = 10**9
        specs = parse_exchange_info(await rest.exchange_info())
        registry = SymbolRegistry([s for s in specs if s.symbol == SYMBOL])
        with StoreWriter(db, registry, retention=Retention(trades_ms=0, minutes_ms=0)) as writer:
            loader = HistoryLoader(
                rest, registry, sink=lambda: writer.submit, reserve_weight=RESERVE
            )
            progress = LoadProgress(SYMBOL, start_ms)
            started = time.perf_counter()
            await loader.load(progress)
            await asyncio.to_thread(writer.flush)
            return time.perf_counter() - started, progress


async def baseline(url: str, first_id: int, last_id: int) -> float:
    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        next_id = first_id
        while next_id <= last_id:
            params = {"symbol": SYMBOL, "fromId": str(next_id), "limit": "1000"}
            async with http.get(url + ep.AGG_TRADES_PATH, params=params) as resp:
                rows = orjson.loads(await resp.read())
            next_id = rows[-1]["a"] + 1
    return time.perf_counter() - started


async def run_rest(args: argparse.Namespace, tmp: Path) -> None:
    rate = args.btc_rate / BTC_SHARE
    # The stand-in enforces no limit: the budget run is held by the client's own accounting.
    async with StandIn(
        symbols=10, rate=rate, seed=3, history_s=(args.hours + 1) * 3600, rest_weight_limit=10**9
    ) as ex:
        start = int(ex.clock.now_ms() - args.hours * HOUR_MS)
        free_s, p = await rest_load(ex.rest_url, tmp / "free.db", start, unlimited=True)
        sym = ex.market.index(SYMBOL)
        first = int(ex.market.agg_trades(sym, start_time=start, limit=1)["agg_id"][0])
        base_s = await baseline(ex.rest_url, first, first + p.trades - 1)
        print(f"REST backfill of {args.hours} h of {SYMBOL} ({p.trades / args.hours / 3600:.0f} "
              f"aggTrades/s): {p.trades:,} trades, {p.requests} requests, weight {p.weight:,}")  # fmt: skip
        print(f"  no budget : {free_s:7.2f} s  ({p.trades / free_s:,.0f} trades/s into the store)")
        print(f"  baseline  : {base_s:7.2f} s  (bare aiohttp + orjson, same pages)")
        print(f"  ratio loader/baseline: {free_s / base_s:.2f}")
        if args.budget_run:
            budget_s, q = await rest_load(ex.rest_url, tmp / "budget.db", start, unlimited=False)
            print(f"  in Binance's budget (1,920/min, {RESERVE} reserved): {budget_s:7.1f} s "
                  f"for weight {q.weight:,}; ratio to no budget {budget_s / free_s:.1f}")  # fmt: skip


async def make_mirror(args: argparse.Namespace, root: Path) -> Path:
    rate = args.btc_rate / BTC_SHARE
    async with StandIn(symbols=10, rate=rate, seed=3, history_s=2 * 86_400) as ex:
        day = dt.datetime.fromtimestamp(ex.market.past.start_ms / 1000, dt.UTC).date()
        day += dt.timedelta(days=1)
        path = await vision.download_day(ex.rest_url, SYMBOL, day, root)
        assert path is not None
        return path


def run_archive(args: argparse.Namespace, tmp: Path) -> None:
    root = tmp / "vision"
    path = asyncio.run(make_mirror(args, root))
    day = dt.date.fromisoformat(path.stem.rsplit("-aggTrades-", 1)[1])
    started = time.perf_counter()
    n = len(read_agg_trades_csv(path))
    read_s = time.perf_counter() - started
    report = import_archive(str(root), [SYMBOL], [day], tmp / "archive.db")
    print(f"archive import of one day of {SYMBOL}: {report.trades_read:,} trades "
          f"({path.stat().st_size / 2**20:.1f} MiB zip)")  # fmt: skip
    print(f"  import   : {report.seconds:7.2f} s  ({report.trades_per_second:,.0f} trades/s)")
    print(f"  baseline : {read_s:7.2f} s  ({n / read_s:,.0f} trades/s, reading the file only)")
    print(f"  ratio import/baseline: {report.seconds / read_s:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--btc-rate", type=float, default=30.0, help="BTCUSDT aggTrades/s")
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--no-budget-run", dest="budget_run", action="store_false")
    parser.add_argument("--skip-archive", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run_rest(args, Path(tmp)))
        if not args.skip_archive:
            run_archive(args, Path(tmp))


if __name__ == "__main__":
    main()
