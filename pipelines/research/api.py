"""`research()`: one call from a notebook or script, the Python face of `orderflow research`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from pipelines.research.daily import ADV_DAYS, DEFAULT_THRESHOLD
from pipelines.research.runner import ALL_SYMBOLS, Progress, RunReport, client_for, run
from pipelines.research.sources import source_for


def research(
    outputs: Sequence[str],
    *,
    symbols: Sequence[str] | str,
    start: dt.date,
    end: dt.date,
    out: str | Path,
    archive: str | None = None,
    db: str | Path | None = None,
    cache: str | Path | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    adv_days: int = ADV_DAYS,
    bin_ticks: int | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """Compute the missing partitions of `outputs` ("profiles", "imbalance", "big-orders",
    "signals") for every contract-day in [start, end] of `symbols` (or "all": every contract
    of a local mirror or the store), from an archive BASE (URL or local mirror) or the store
    at `db`, on a LocalCluster of `workers` processes or the cluster at `scheduler`.
    `bin_ticks` fixes the signals' bin (default: the automatic bin).
    Call it under `if __name__ == "__main__":` in a script (worker processes are spawned)."""
    source = source_for(archive=archive, db=db, cache=cache)
    if isinstance(symbols, str) and symbols == ALL_SYMBOLS:
        source.symbols()  # a source that cannot list its contracts says so before a cluster starts
    with client_for(workers, scheduler) as client:
        return run(client, source, outputs, symbols, start, end, str(out), threshold=threshold,
                   adv_days=adv_days, bin_ticks=bin_ticks, progress=progress)  # fmt: skip
