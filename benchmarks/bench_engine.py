"""Engine throughput and latency against the stand-in over loopback.

    python benchmarks/bench_engine.py [--symbols 600] [--seconds 8]

For each offered rate, the stand-in (its own process) streams aggTrades for every contract and
two consumers read them in turn: the bare baseline (aiohttp receive + orjson parse, nothing
else) and the full engine (sharded connections, parsing into columnar batches, exactly-once
sequencing, the streamz pipeline and the raw trade buffer). "Sustained" is the highest offered
rate a consumer keeps up with: no disconnect, and for the engine at least 97 % of what the
baseline received at the same offered rate (the offered rate counts every listed contract, the
consumers subscribe to perpetuals only). Latency is frame receipt to the
batch being visible to the engine's consumers, measured at a fixed 5,000 frames/s.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
import numpy as np
import orjson

from benchmarks.common import standin_process
from pipelines.binance.contracts import parse_exchange_info
from pipelines.binance.endpoints import agg_trade_stream
from pipelines.engine.service import Engine, EngineConfig


async def _symbols(rest_url: str) -> list[str]:
    async with aiohttp.ClientSession() as s, s.get(f"{rest_url}/fapi/v1/exchangeInfo") as r:
        return [c.symbol for c in parse_exchange_info(orjson.loads(await r.read()))]


async def bare_baseline(rest_url: str, ws_url: str, seconds: float) -> tuple[float, bool]:
    """Frames/s read by plain aiohttp sockets that only orjson-parse each frame."""
    streams = [agg_trade_stream(s) for s in await _symbols(rest_url)]
    count, broken = 0, False

    async def reader(part: list[str]) -> None:
        nonlocal count, broken
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{ws_url}/market/stream", max_msg_size=0) as ws,
        ):
            await ws.send_bytes(orjson.dumps({"method": "SUBSCRIBE", "params": part, "id": 1}))
            async for msg in ws:
                if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    break
                orjson.loads(msg.data)
                count += 1
            broken = True

    tasks = [asyncio.create_task(reader(streams[i : i + 200])) for i in range(0, len(streams), 200)]
    await asyncio.sleep(2)  # subscribe and settle
    start_count, t0 = count, time.perf_counter()
    await asyncio.sleep(seconds)
    rate = (count - start_count) / (time.perf_counter() - t0)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return rate, broken


async def full_engine(rest_url: str, ws_url: str, seconds: float) -> tuple[float, bool, np.ndarray]:
    engine = Engine(EngineConfig(rest_url=rest_url, ws_url=ws_url, book_depth=False))
    await engine.start()
    await asyncio.sleep(2)
    reconnects0 = sum(c.reconnects for c in engine.status().connections)
    frames0, t0, n0 = engine.parser.frames, time.perf_counter(), engine.frames_measured
    await asyncio.sleep(seconds)
    rate = (engine.parser.frames - frames0) / (time.perf_counter() - t0)
    status = engine.status()
    broken = sum(c.reconnects for c in status.connections) > reconnects0
    latencies = engine.latency_samples(since=n0)
    await engine.stop()
    return rate, broken, latencies


async def measure(args: argparse.Namespace) -> None:
    print(f"symbols={args.symbols} window={args.seconds:.0f}s per run")
    print(f"{'offered/s':>10} {'baseline/s':>11} {'engine/s':>10} {'ratio':>6}  engine p50/p99 ms")
    best = {"baseline": 0.0, "engine": 0.0}
    for offered in args.rates:
        with standin_process(symbols=args.symbols, rate=offered) as (rest, ws):
            base, base_broken = await bare_baseline(rest, ws, args.seconds)
        with standin_process(symbols=args.symbols, rate=offered) as (rest, ws):
            eng, eng_broken, lat = await full_engine(rest, ws, args.seconds)
        if not base_broken:
            best["baseline"] = max(best["baseline"], base)
        if not eng_broken and eng >= 0.97 * base:
            best["engine"] = max(best["engine"], eng)
        p50, p99 = np.percentile(lat, [50, 99]) if len(lat) else (float("nan"),) * 2
        flags = ("  baseline fell behind" if base_broken else "") + (
            "  engine fell behind" if eng_broken else ""
        )
        print(
            f"{offered:>10,.0f} {base:>11,.0f} {eng:>10,.0f} {eng / base:>6.2f}  {p50:.1f}/{p99:.1f}{flags}"
        )
    print(f"sustained: baseline {best['baseline']:,.0f}/s, engine {best['engine']:,.0f}/s, "
          f"ratio {best['engine'] / max(best['baseline'], 1):.2f}")  # fmt: skip

    # Offered 5,650/s across all listed contracts gives about 5,000/s on the subscribed perpetuals.
    with standin_process(symbols=args.symbols, rate=5650) as (rest, ws):
        eng, _, lat = await full_engine(rest, ws, args.seconds * 2)
    p50, p99 = np.percentile(lat, [50, 99])
    print(
        f"latency at {eng:,.0f} frames/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(lat):,} frames)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rates", type=float, nargs="+", default=[20_000, 40_000, 60_000, 80_000])
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
