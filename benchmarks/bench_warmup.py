"""Start to a warm imbalance heatmap: 1m klines of every contract, beside live gap fills.

    python -m benchmarks.bench_warmup [--symbols 600] [--rate 1000] [--history 1d] [--hours 8]
                                      [--faults gap=0.0005]

The stand-in (its own process) has a generated past of `--history`, so every contract has
hours of minutes to serve; the engine (this process, no store) starts with `warm_hours`. Every
half second the benchmark reads the warm-up's progress, the REST weight it spent, the imbalance
heatmap (a contract is warm once its traded minutes reach back 6 h), and the age of the oldest
gap the sequencer holds open: gap fills must not starve behind the warm-up (target: no gap
older than 30 s). The stand-in drops a share of the aggTrade frames (`--faults`, its fault
syntax), so there are gaps to fill while the warm-up runs. The same run's baseline is the engine started with the warm-up off: its
heatmap after as long holds only the minutes since start.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np

from benchmarks.common import standin_process
from pipelines.engine.service import Engine, EngineConfig
from pipelines.records.timeunits import HOUR_MS

WARM_SPAN_MS = 6 * HOUR_MS


def warm_share(engine: Engine, now_ms: int) -> float:
    """Share of the watched contracts whose heatmap reaches 6 h back."""
    heatmap = engine.analytics.imbalance.heatmap(now_ms, 8 * 60)
    if not len(engine.registry.active):
        return 0.0
    cols = heatmap.columns.to_numpy()
    traded = heatmap.notna().to_numpy()
    oldest = np.where(traded.any(axis=1), cols[np.argmax(traded, axis=1)], now_ms)
    return float((oldest <= now_ms - WARM_SPAN_MS + 10 * 60_000).sum()) / len(
        engine.registry.active
    )


def oldest_gap_s(engine: Engine) -> float:
    gaps = engine.sequencer.missing()
    return max((time.monotonic() - g.found_at for g in gaps), default=0.0)


async def measure(rest: str, ws: str, hours: float, limit_s: float) -> dict:
    engine = Engine(EngineConfig(rest_url=rest, ws_url=ws, warm_hours=hours))
    began = time.monotonic()
    await engine.start()
    worst_gap, warm_at, share = 0.0, None, 0.0
    while time.monotonic() - began < limit_s:
        await asyncio.sleep(0.5)
        now_ms = int(time.time() * 1000)
        worst_gap = max(worst_gap, oldest_gap_s(engine))
        share = warm_share(engine, now_ms)
        if warm_at is None and share >= 0.95:
            warm_at = time.monotonic() - began
        if hours and engine.warmup.progress.complete and warm_at is not None:
            break
    progress = engine.warmup.progress
    status = engine.status()
    await engine.stop()
    return {
        "warm_s": warm_at,
        "share": share,
        "progress": progress,
        "worst_gap_s": worst_gap,
        "gaps_found": status.gaps_found,
        "gaps_filled": status.gaps_filled,
        "seconds": time.monotonic() - began,
        "rest": engine.rest.stats,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=600)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--history", default="1d")
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--limit", type=float, default=180.0, help="seconds to wait at most")
    parser.add_argument("--faults", default="gap=0.0005", help="the stand-in's fault spec")
    args = parser.parse_args()
    with standin_process(
        symbols=args.symbols,
        rate=args.rate,
        extra=("--history", args.history, "--faults", args.faults),
    ) as (rest, ws):
        base = asyncio.run(measure(rest, ws, 0.0, 40.0))
        print(f"baseline (warm-up off), after {base['seconds']:.0f} s: "
              f"{base['share']:.1%} of contracts reach 6 h back; gaps {base['gaps_found']} found, "
              f"{base['gaps_filled']} filled, oldest open gap seen {base['worst_gap_s']:.1f} s",
              flush=True)  # fmt: skip
        warm = asyncio.run(measure(rest, ws, args.hours, args.limit))
    p = warm["progress"]
    took = f"{warm['warm_s']:.1f} s" if warm["warm_s"] is not None else "not within the limit"
    print(f"warm heatmap (>= 95 % of contracts reach 6 h back): {took}; at the end "
          f"{warm['share']:.1%}")  # fmt: skip
    print(f"warm-up: {p.contracts_done}/{p.contracts_total} contracts, {p.minutes:,} minutes, "
          f"{p.weight:,} weight, {p.failed} failed, first pass {p.seconds:.1f} s")  # fmt: skip
    print(f"gap fills meanwhile: {warm['gaps_found']} found, {warm['gaps_filled']} filled, "
          f"oldest open gap seen {warm['worst_gap_s']:.1f} s (target <= 30 s)")  # fmt: skip
    print(f"REST: {warm['rest']}")


if __name__ == "__main__":
    main()
