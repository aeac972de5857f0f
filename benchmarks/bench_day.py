"""A simulated day through the engine and the store: memory, history, restart-to-ready.

    python benchmarks/bench_day.py [--symbols 600] [--rate 1000] [--hours 24]

The stand-in's market generator, in a process of its own as the exchange would be, produces
`--hours` of trades ending now, faster than real time; each second of them goes through the
engine's pipeline exactly as live batches do (sequencer, raw buffer, analytics, store writer),
without sockets. Printed: the engine process's RSS (sampled every simulated hour, and the
kernel's high-water mark), a check that footprints of the whole day (store minutes + buffer)
equal rebuilds from every generated trade, and the time a restarted engine, in a fresh process,
needs to be ready (stored ids and the last hour of raw trades reloaded) with that process's
peak RSS. Baseline for the restart: the time to read the store's checkpoints alone.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection

import numpy as np

from pipelines.analytics.footprint import FootprintRules, footprint_from_records
from pipelines.binance.contracts import PERPETUAL
from pipelines.engine.service import Engine, EngineConfig
from pipelines.records.batch import EngineBatch
from pipelines.records.dtypes import TRADE_DTYPE
from pipelines.standin.market import Market
from pipelines.storage.store import Store

MINUTE_MS = 60_000
BATCH_MS = 1000  # one second of trades per batch: the writer's queue holds batches, like live


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field)) / 1024


def rss_mb() -> float:
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """The kernel's high-water mark of this process's RSS, not a sample."""
    return _status_mb("VmHWM")


def generate(conn: Connection, symbols: int, rate: float, start: int, end: int) -> None:
    """The stand-in's market, in its own process: it is the exchange, not part of the engine.

    Sends the perpetuals' specs, receives their engine indices and the contracts to check,
    then one second of trades at a time (raw record bytes; the pipe's capacity is the
    back-pressure), and at the end every trade it generated for the contracts to check.
    """
    # REST is not served here: keep the generator's own trade history short.
    market = Market(symbols, rate, 1, start_ms=start, step_ms=1000, retention_s=60,
                    max_trades=200_000)  # fmt: skip
    perps = {i: c.spec for i, c in enumerate(market.contracts) if c.spec.contract_type == PERPETUAL}
    conn.send((len(market.contracts), perps))
    to_engine, checked = conn.recv()
    kept: list[np.ndarray] = []
    # Per contract and minute: taker buy and sell quantity (steps) and aggTrade count.
    minutes = np.zeros((3, int(to_engine.max()) + 1, (end - start) // MINUTE_MS), np.int64)
    for now in range(start + BATCH_MS, end + 1, BATCH_MS):
        steps = market.advance_to(now)
        trades = np.concatenate([s.trades for s in steps])
        trades = trades[to_engine[trades["sym"]] >= 0]
        trades["sym"] = to_engine[trades["sym"]]
        conn.send_bytes(trades.tobytes())
        kept.append(trades[np.isin(trades["sym"], checked)])
        at = (trades["sym"], (trades["time"] - start) // MINUTE_MS)
        np.add.at(minutes[0], at, np.where(trades["buyer_maker"], 0, trades["qty"]))
        np.add.at(minutes[1], at, np.where(trades["buyer_maker"], trades["qty"], 0))
        np.add.at(minutes[2], at, 1)
    conn.send(peak_rss_mb())
    conn.send_bytes(np.concatenate(kept).tobytes())
    conn.send(minutes)


async def simulate(
    args: argparse.Namespace, db: str
) -> tuple[Engine, dict[str, np.ndarray], np.ndarray, int]:
    end = int(time.time() * 1000) // MINUTE_MS * MINUTE_MS
    start = end - int(args.hours * 3600_000)
    engine = Engine(EngineConfig(db_path=db))
    conn, child_conn = mp.get_context("spawn").Pipe()
    child = mp.get_context("spawn").Process(
        target=generate, args=(child_conn, args.symbols, args.rate, start, end), daemon=True
    )
    child.start()
    child_conn.close()  # the child's end lives in the child: its exit is then our EOFError
    n_contracts, perps = conn.recv()
    to_engine = np.full(n_contracts, -1, dtype=np.int32)
    for i, spec in perps.items():
        to_engine[i] = engine.registry.add(spec)
    # Two mid-size contracts are checked against every trade generated for them; the generator
    # keeps that reference copy, outside the memory being measured.
    names = [spec.symbol for spec in perps.values()]
    checked = [names[len(names) // 4], names[len(names) // 2]]
    conn.send((to_engine, [engine.registry.index(s) for s in checked]))
    engine.open_store()  # an empty store: nothing to resume
    total, t0 = 0, time.perf_counter()
    for seq, now in enumerate(range(start + BATCH_MS, end + 1, BATCH_MS), 1):
        trades = np.frombuffer(conn.recv_bytes(), TRADE_DTYPE).copy()
        released = engine.sequencer.push(trades)
        await engine.source.emit(EngineBatch(seq, now, now, trades=released))
        total += len(released)
        # Faster than real time: wait for the writer rather than pass its bound (no REST here).
        while engine.writer.status().waiting_rows > 200_000:
            await asyncio.sleep(0.01)
        if (now - start) % 3600_000 == 0:
            hour = (now - start) // 3600_000
            print(f"  hour {hour:>2}: {total:,} trades, {total / (time.perf_counter() - t0):,.0f}/s, "
                  f"RSS {rss_mb():,.0f} MB, buffer {engine.buffer.memory_bytes / 2**20:,.0f} MB, "
                  f"writer queue {engine.writer.status().queue_depth}", flush=True)  # fmt: skip
    generator_peak = conn.recv()
    generated = np.frombuffer(conn.recv_bytes(), TRADE_DTYPE)
    minutes = conn.recv()
    child.join()
    await asyncio.to_thread(engine.writer.flush, 600)
    hours = (end - start) / 3600_000
    print(f"simulated {hours:g} h: {total:,} trades ({total / hours / 3600:,.0f}/s on average) in "
          f"{time.perf_counter() - t0:,.0f} s; engine process peak RSS {peak_rss_mb():,.0f} MB; "
          f"the generator's own process peaked at {generator_peak:,.0f} MB")  # fmt: skip
    kept = {s: generated[generated["sym"] == engine.registry.index(s)] for s in checked}
    return engine, kept, minutes, start


def check_history(engine: Engine, kept: dict[str, np.ndarray], start: int) -> None:
    end = int(time.time() * 1000) // MINUTE_MS * MINUTE_MS + MINUTE_MS
    for symbol, trades in kept.items():
        spec = engine.registry.spec(symbol)
        for bin_ticks, tf in ((1, "1h"), (10, "15m"), (50, "1m")):
            rules = FootprintRules.make(spec, price_bin_ticks=bin_ticks, timeframe=tf)
            t = time.perf_counter()
            got = engine.footprint(symbol, start, end, rules)
            took = time.perf_counter() - t
            want = footprint_from_records(trades, spec, rules)
            same = all(
                got_df.reset_index(drop=True).equals(want_df.reset_index(drop=True))
                for got_df, want_df in ((got.bars, want.bars), (got.levels, want.levels))
            )
            print(f"  {symbol} {tf}/{bin_ticks}t over the day: {len(got.bars)} bars, "
                  f"{'equal to' if same else 'DIFFERENT from'} the rebuild from trades, "
                  f"{took * 1000:,.0f} ms")  # fmt: skip


def check_every_contract(engine: Engine, minutes: np.ndarray, start: int) -> None:
    """Every contract's 1-minute footprint of the whole day against the generator's own
    per-minute taker buy/sell quantity and trade count."""
    end = start + minutes.shape[2] * MINUTE_MS
    took, wrong = [], []
    for sym, symbol in enumerate(engine.registry.symbols):
        spec = engine.registry.spec(sym)
        rules = FootprintRules.make(spec, price_bin_ticks=10, timeframe="1m")
        t = time.perf_counter()
        bars = engine.footprint(symbol, start, end, rules).bars
        took.append(time.perf_counter() - t)
        traded = np.flatnonzero(minutes[2, sym])
        got = bars[bars["trades"] > 0]
        same = (
            np.array_equal((got["bar_time"].to_numpy() - start) // MINUTE_MS, traded)
            and all(
                np.array_equal(np.rint(got[col].to_numpy() / spec.step), minutes[k, sym, traded])
                for k, col in enumerate(("buy_volume", "sell_volume"))
            )
            and np.array_equal(got["trades"].to_numpy(), minutes[2, sym, traded])
        )
        if not same:
            wrong.append(symbol)
    print(f"  every contract ({len(took)}), 1m/10t over the day: "
          f"{len(took) - len(wrong)} equal to the generator's minute totals"
          f"{' (DIFFERENT: ' + ', '.join(wrong[:5]) + ')' if wrong else ''}; "
          f"median {np.median(took) * 1000:,.0f} ms, slowest {max(took) * 1000:,.0f} ms")  # fmt: skip


def restart(db: str) -> tuple[float, float, int, float]:
    """A fresh process, as after a reboot: seconds to ready, checkpoints-only baseline (s),
    raw trades reloaded, and the process's peak RSS (MB)."""
    t = time.perf_counter()
    with Store(db) as store:
        store.last_agg_ids()
    baseline = time.perf_counter() - t
    engine = Engine(EngineConfig(db_path=db))
    with Store(db) as store:
        for symbol in store.symbols():  # the universe as the store knows it
            engine.registry.add(store.spec(symbol))
    t = time.perf_counter()
    engine.open_store()
    ready = time.perf_counter() - t
    engine.writer.close()
    return ready, baseline, engine.restored_trades, peak_rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=600)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--hours", type=float, default=24)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as tmp:
        db = os.path.join(tmp, "day.db")
        engine, kept, minutes, start = asyncio.run(simulate(args, db))
        check_history(engine, kept, start)
        check_every_contract(engine, minutes, start)
        print(f"engine process peak RSS, the day's footprints included: {peak_rss_mb():,.0f} MB")
        engine.writer.close()
        print(f"store: {os.path.getsize(db) / 2**30:,.2f} GiB")
        del engine, kept, minutes
        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
            ready, baseline, restored, peak = pool.submit(restart, db).result()
        print(f"restart to ready (a fresh process): {ready:.2f} s ({restored:,} raw trades "
              f"reloaded); checkpoints alone {baseline * 1000:.0f} ms; ratio {ready / baseline:,.0f}; "
              f"that process's peak RSS {peak:,.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
