"""Research runs on dask.distributed: one task per contract-day, reruns fill only the gaps.

Stage 1, per contract-day: read the day's trades once, write the requested per-day partitions
(profiles, minutes, imbalance, orders, liquidations, signals) and last the `days` summary
(trade count, notional, grid). Signals also read the day before (warm-up) and the day after
(follow-through), so a day's signals never depend on the range asked for. Stage 2, per
contract-day, for big orders: the day's taker orders against the ADV of the `adv_days` days
before it, from their `days` summaries; it waits on those days' stage-1 tasks. Every task holds
one contract-day (three for signals), so a worker's memory is bounded by the busiest days,
whatever the date range. A worker that dies takes its running task with it; the scheduler
reruns that task elsewhere, and since partitions are renamed into place whole, the rerun
writes the same files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dask
import pandas as pd
from distributed import Client, LocalCluster, as_completed

from pipelines.analytics.footprint import check_price_bin
from pipelines.research import daily, signal_day
from pipelines.research.dataset import (
    file_metadata,
    has_partition,
    read_days,
    read_partition,
    write_partition,
)
from pipelines.research.sources import DayTrades, Source, SourceError

# What each requested output needs written per contract-day.
OUTPUTS = {
    "profiles": ("profiles", "minutes"),
    "imbalance": ("imbalance",),
    "big-orders": ("orders",),
    "signals": ("signals",),
}
ALL_SYMBOLS = "all"  # every contract the source holds

Progress = Callable[[str], None]


@dataclass
class RunReport:
    tasks: int = 0  # tasks run (stage 1 + stage 2)
    skipped: int = 0  # contract-days whose partitions were all there already
    trades: int = 0  # trades read by stage-1 tasks
    seconds: float = 0.0
    no_data: list[str] = field(default_factory=list)  # "SYM DATE" without trades in the source
    errors: list[str] = field(default_factory=list)  # one line each

    @property
    def trades_per_second(self) -> float:
        return self.trades / self.seconds if self.seconds > 0 else 0.0


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


# ---------------------------------------------------------------- tasks (run on workers)


def day_task(
    source: Source,
    symbol: str,
    day: dt.date,
    out: str,
    kinds: Sequence[str],
    bin_ticks: int | None = None,
) -> int:
    """Stage 1 of one contract-day: write `kinds`; returns the trades read (-1: no trades).
    `bin_ticks`: the signals' fixed bin (None: automatic)."""
    trades = source.day(symbol, day)
    if trades is None:
        return -1
    meta = {"tick_size": trades.spec.tick_size, "step_size": trades.spec.step_size,
            "grid": trades.grid}  # fmt: skip
    prof = daily.profile(trades) if {"profiles", "minutes", "imbalance"} & set(kinds) else None
    writers = {
        "profiles": lambda: daily.profile_levels(prof),
        "minutes": lambda: daily.profile_minutes(prof),
        "imbalance": lambda: daily.minute_imbalance(prof),
        "orders": lambda: daily.orders(trades),
        "liquidations": lambda: daily.liquidations(trades),
        "days": lambda: daily.summary(trades),
    }
    for kind in (*sorted(set(kinds) - {"days"}), "days"):  # the summary last: it marks done
        if kind not in kinds:
            continue
        if kind == "signals":
            frame, signal_meta = signals_partition(source, trades, bin_ticks)
            write_partition(frame, out, kind, symbol, day, signal_meta, signal_day.SCHEMA)
        elif (frame := writers[kind]()) is not None:
            write_partition(frame, out, kind, symbol, day, meta)
    return len(trades.records)


def bin_label(bin_ticks: int | None) -> str:
    return "auto" if bin_ticks is None else str(bin_ticks)


def signals_partition(
    source: Source, trades: DayTrades, bin_ticks: int | None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The day's signals frame and its file metadata: the grid, the bin, and whether the day
    before (warm-up) and the day after (follow-through) were in the source."""
    one = dt.timedelta(days=1)
    before = source.day(trades.symbol, trades.day - one)
    after = source.day(trades.symbol, trades.day + one)
    frame, spec = signal_day.day_signals(trades, before, after, bin_ticks)
    meta = {"tick_size": spec.tick_size, "step_size": spec.step_size, "grid": trades.grid,
            "bin": bin_label(bin_ticks), "warm_up_day": str(before is not None).lower(),
            "next_day": str(after is not None).lower()}  # fmt: skip
    return frame, meta


def big_task(
    out: str, symbol: str, day: dt.date, threshold: float, adv_days: int, _after: list
) -> int:
    """Stage 2 of one contract-day (after the stage-1 tasks in `_after`): returns big orders
    written, -1 when the day has no taker orders."""
    if not has_partition(out, "orders", symbol, day):
        return -1
    window = [day - dt.timedelta(days=i) for i in range(adv_days, 0, -1)]
    adv, used = daily.average_daily_notional(read_days(out, symbol, window), day, adv_days)
    frame = daily.big(read_partition(out, "orders", symbol, day), adv, used, threshold)
    write_partition(frame, out, "big-orders", symbol, day,
                    {"adv": repr(adv), "adv_days": str(used), "threshold": repr(threshold)})  # fmt: skip
    return len(frame)


# ---------------------------------------------------------------- driver


def check_signal_bin(out: str, bin_ticks: int | None) -> None:
    """Refuse to add signals at another bin to a signals dataset (every run checks, so one
    partition speaks for all)."""
    root = Path(out) / "signals"
    done = next(root.glob("symbol=*/date=*/part.parquet"), None) if root.is_dir() else None
    if done is None:
        return
    held = file_metadata(done).get("bin")
    if held != bin_label(bin_ticks):
        raise ValueError(f"{root} holds signals at bin {held}, not {bin_label(bin_ticks)}: "
                         "use another output directory or delete it")  # fmt: skip


@contextlib.contextmanager
def client_for(workers: int | None = None, scheduler: str | None = None) -> Iterator[Client]:
    """A client of the cluster at `scheduler`, else of a LocalCluster of `workers` processes
    (one thread each: the kernels hold the GIL, and one task at a time bounds memory)."""
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    # Dask's default trim threshold (64 KiB) hands every freed day-sized buffer back to the
    # kernel, so the next task page-faults it in again (~15 % of a task's time here).
    trim = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": str(256 * 2**20)}
    with dask.config.set(trim):
        cluster = LocalCluster(
            n_workers=max(1, workers or 1),
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: several runs may share a machine
            silence_logs=logging.CRITICAL,
        )
    with cluster, Client(cluster) as client:
        yield client


def run(
    client: Client,
    source: Source,
    outputs: Sequence[str],
    symbols: Sequence[str] | str,
    start: dt.date,
    end: dt.date,
    out: str,
    *,
    threshold: float = daily.DEFAULT_THRESHOLD,
    adv_days: int = daily.ADV_DAYS,
    bin_ticks: int | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """Compute the missing partitions of `outputs` for every contract-day; see the module doc.
    `symbols`: names, or "all" (every contract the source holds; those without trades in the
    range are then no error). `bin_ticks`: the signals' fixed bin, None for the automatic one."""
    unknown = set(outputs) - set(OUTPUTS)
    if unknown or not outputs:
        raise ValueError(f"unknown outputs {sorted(unknown)}; use {', '.join(OUTPUTS)}")
    if bin_ticks is not None:
        if "signals" not in outputs:
            raise ValueError("a bin applies to signals only")
        check_price_bin(bin_ticks)
    every = isinstance(symbols, str) and symbols == ALL_SYMBOLS
    symbols = source.symbols() if every else list(symbols)
    if not symbols:
        raise ValueError("no symbols given")
    for symbol in [] if every else symbols:  # the source's own list needs no check
        source.check_symbol(symbol)
    out = str(out)
    if "signals" in outputs:
        check_signal_bin(out, bin_ticks)
    report = RunReport()
    kinds = {k for o in outputs for k in OUTPUTS[o]}
    if source.records_liquidations:
        kinds.add("liquidations")
    in_range = days_between(start, end)
    want_big = "big-orders" in outputs
    window = days_between(start - dt.timedelta(days=adv_days), start) if want_big else []
    labels: dict = {}
    stage1: dict[tuple[str, dt.date], object] = {}
    for symbol in symbols:
        for day in sorted(set(window[:-1]) | set(in_range)):
            wanted = (kinds | {"days"}) if day >= start else {"days"}
            missing = sorted(k for k in wanted if not has_partition(out, k, symbol, day))
            if not missing:
                report.skipped += day >= start
                continue
            fut = client.submit(day_task, source, symbol, day, out, missing, bin_ticks,
                                pure=False)  # fmt: skip
            stage1[(symbol, day)] = fut
            labels[fut.key] = ("day", symbol, day)
    stage2 = []
    if want_big:
        for symbol in symbols:
            for day in in_range:
                if has_partition(out, "big-orders", symbol, day):
                    continue
                deps = [stage1[(symbol, day - dt.timedelta(days=i))] for i in range(adv_days + 1)
                        if (symbol, day - dt.timedelta(days=i)) in stage1]  # fmt: skip
                fut = client.submit(
                    big_task, out, symbol, day, threshold, adv_days, deps, pure=False
                )
                stage2.append(fut)
                labels[fut.key] = ("big", symbol, day)
    futures = [*stage1.values(), *stage2]
    report.tasks = len(futures)
    if progress and futures:
        progress(f"{len(futures)} tasks on {client.dashboard_link or 'the cluster'}")
    began = time.perf_counter()
    last_line = 0.0
    with_data: set[str] = set()
    for i, fut in enumerate(as_completed(futures), 1):
        stage, symbol, day = labels[fut.key]
        if fut.status == "error":
            exc = fut.exception()
            line = (
                str(exc)
                if isinstance(exc, SourceError)
                else f"{symbol} {day}: {type(exc).__name__}: {exc}"
            )
            report.errors.append(line)
        else:
            result = fut.result()
            if stage == "day" and result >= 0:
                report.trades += result
                with_data.add(symbol)
            elif stage == "day" and day >= start:
                report.no_data.append(f"{symbol} {day}")
        report.seconds = time.perf_counter() - began
        if progress and (report.seconds - last_line >= 1.0 or i == len(futures)):
            last_line = report.seconds
            progress(f"[{i}/{len(futures)}] {report.trades:,} trades, "
                     f"{report.trades_per_second:,.0f} trades/s, {len(report.errors)} errors")  # fmt: skip
    for symbol in [] if every else symbols:
        if symbol not in with_data and all(f"{symbol} {d}" in report.no_data for d in in_range):
            report.errors.append(f"{symbol}: no trades in the source from {start} to {end}")
    return report
