"""Engine CPU with the order-flow signals on against the same engine with them off.

    python -m benchmarks.bench_signals [--symbols 600] [--rate 1000] [--seconds 120] [--rounds 2]

The stand-in runs in a process of its own. Each round measures the engine (as the served app
runs it, no store) in a fresh process with signals off, then with them on, over the same
stand-in: CPU is user + system time over `--seconds` after a warm-up of at least one whole
minute (so the measured window holds bar closes), as % of one core. The "off" run of a round is
that round's baseline. With signals on, the engine also reports what the significance layer
lets through: signals per minute across all contracts at several minimum strengths.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_cpu import cpu_percent, process
from benchmarks.common import standin_process

# argv[1:]: REST URL, websocket URL, "on"/"off", a file the signal counts are written to.
ENGINE = """
import asyncio, json, sys, time
import numpy as np
from pipelines.engine.service import Engine, EngineConfig

STRENGTHS = (0, 1, 2, 3, 5, 10)

async def main():
    on = sys.argv[3] == "on"
    engine = Engine(EngineConfig(rest_url=sys.argv[1], ws_url=sys.argv[2], signals=on))
    await engine.start()
    while True:
        await asyncio.sleep(5)
        tracker = engine.analytics.signals
        if tracker is None:
            continue
        rows, _ = tracker.since(0)
        one = rows[rows["tf_ms"] == 60_000]
        minutes = len(np.unique(one["bar_time"]))
        counts = {s: int((rows["strength"] >= s).sum()) for s in STRENGTHS}
        kinds = np.bincount(rows["kind"], minlength=6).tolist()
        with open(sys.argv[4], "w") as fh:
            json.dump({"minutes": minutes, "by_strength": counts, "by_kind": kinds,
                       "bars": len(tracker.bars), "late": tracker.late_trades}, fh)

asyncio.run(main())
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=600)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--warmup", type=float, default=70.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with standin_process(symbols=args.symbols, rate=args.rate) as (rest, ws), \
            tempfile.TemporaryDirectory() as tmp:  # fmt: skip
        counts = Path(tmp) / "counts.json"
        for r in range(1, args.rounds + 1):
            figures = {}
            for mode in ("off", "on"):
                with process(
                    [sys.executable, "-c", ENGINE, rest, ws, mode, str(counts)], {}
                ) as pid:
                    time.sleep(args.warmup)
                    figures[mode] = cpu_percent(pid, args.seconds)
                    if mode == "on":
                        time.sleep(6)  # the counts file is written every 5 s
                        seen = json.loads(counts.read_text())
                print(f"round {r}: engine, signals {mode}: {figures[mode]:.1f} % of a core",
                      flush=True)  # fmt: skip
            extra = figures["on"] - figures["off"]
            print(f"round {r}: signals cost {extra:+.1f} % of a core "
                  f"({figures['on'] / max(figures['off'], 0.1):.3f}x the same round's "
                  f"signals-off baseline)", flush=True)  # fmt: skip
            minutes = max(seen["minutes"], 1)
            per_minute = {s: round(n / minutes, 1) for s, n in seen["by_strength"].items()}
            print(f"round {r}: {seen['minutes']} 1m bar closes seen; signals per minute (all "
                  f"timeframes) at strength >= threshold: {per_minute}; by kind: "
                  f"{seen['by_kind']}; late trades {seen['late']}", flush=True)  # fmt: skip
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
