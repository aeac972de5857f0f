"""Deterministic trade batches, signal rows and naive per-trade references for the storage tests."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import numpy as np

from pipelines.analytics.signals import KINDS, SIDES, SIGNAL_DTYPE
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.batch import EngineBatch
from pipelines.records.dtypes import TRADE_DTYPE
from pipelines.records.timeunits import HOUR_MS, MINUTE_MS

T0 = 1_754_000_000_000  # epoch ms, a minute boundary
GRIDS = (("BTCUSDT", "0.10", "0.001"), ("ETHUSDT", "0.01", "0.001"), ("DOGEUSDT", "0.00001", "1"),
         ("XAUUSDT", "0.005", "0.0001"))  # fmt: skip


SIGNALS_START = T0 // HOUR_MS * HOUR_MS  # an hour boundary: every timeframe's bars align on it
SIGNALS_SPAN_MS = 6 * HOUR_MS


def registry() -> SymbolRegistry:
    return SymbolRegistry([ContractSpec(s, tick, step) for s, tick, step in GRIDS])


def batch(
    k: int, per_symbol: int = 50, n_symbols: int = len(GRIDS), step_ms: int = 250
) -> EngineBatch:
    """Batch k: `per_symbol` trades of each symbol with ids k*per_symbol+1.., times from T0+k*step."""
    rng = np.random.default_rng(k)
    n = per_symbol * n_symbols
    t = np.zeros(n, dtype=TRADE_DTYPE)
    t["sym"] = np.repeat(np.arange(n_symbols), per_symbol)
    t["agg_id"] = np.tile(np.arange(1, per_symbol + 1), n_symbols) + k * per_symbol
    t["first_id"] = t["agg_id"] * 2
    t["last_id"] = t["first_id"] + rng.integers(0, 3, n)
    within = np.sort(rng.integers(0, step_ms, (n_symbols, per_symbol)), axis=1).ravel()
    t["time"] = T0 + k * step_ms + within
    t["price"] = 100_000 + rng.integers(-40, 41, n)
    t["qty"] = rng.integers(1, 10_000, n)
    t["buyer_maker"] = rng.random(n) < 0.5
    return EngineBatch(seq=k, created_ms=0, trades=t)


def decimal_price(spec: ContractSpec, ticks: int) -> Decimal:
    return Decimal(int(ticks)) * Decimal(spec.tick_size)


def decimal_qty(spec: ContractSpec, steps: int) -> Decimal:
    return Decimal(int(steps)) * Decimal(spec.step_size)


def naive_minutes(trades: np.ndarray) -> tuple[dict, dict]:
    """Per-trade accumulation: {(sym, minute, price): [bid, ask, bid_n, ask_n]} and bars.

    Bars: {(sym, minute): [open, high, low, close, first_agg, last_agg, trades, bid, ask,
    delta_max, delta_min]}, trades taken in (time, agg_id) order.
    """
    profile: dict = defaultdict(lambda: [0, 0, 0, 0])
    bars: dict = {}
    run: dict = {}
    rows = sorted(
        (int(r["sym"]), int(r["time"]), int(r["agg_id"]), int(r["price"]), int(r["qty"]),
         bool(r["buyer_maker"]))
        for r in trades
    )  # fmt: skip
    for sym, time, agg, price, qty, sold in rows:
        minute = time - time % 60_000
        cell = profile[(sym, minute, price)]
        cell[0 if sold else 1] += qty
        cell[2 if sold else 3] += 1
        key = (sym, minute)
        run[key] = run.get(key, 0) + (-qty if sold else qty)
        if key not in bars:
            bars[key] = [price, price, price, price, agg, agg, 0, 0, 0, run[key], run[key]]
        bar = bars[key]
        bar[1], bar[2], bar[3] = max(bar[1], price), min(bar[2], price), price
        bar[4], bar[5] = min(bar[4], agg), max(bar[5], agg)
        bar[6] += 1
        bar[7 if sold else 8] += qty
        bar[9], bar[10] = max(bar[9], run[key]), min(bar[10], run[key])
    return dict(profile), bars


def stored_minutes(conn, ids: dict[str, int], reg: SymbolRegistry) -> tuple[dict, dict]:
    """The store's minute rows keyed like `naive_minutes` (registry index for the symbol)."""
    to_index = {sid: reg.index(sym) for sym, sid in ids.items()}
    profile = {
        (to_index[r[0]], r[1], r[2]): list(r[3:])
        for r in conn.execute("SELECT * FROM minute_profile_rows")
    }
    bars = {
        (to_index[r[0]], r[1]): list(r[2:]) for r in conn.execute("SELECT * FROM minute_bar_rows")
    }
    return profile, bars


def symbol_ids(conn) -> dict[str, int]:
    return {sym: sid for sid, sym in conn.execute("SELECT id, symbol FROM symbols")}


def make_signals(
    n: int, seed: int = 0, n_symbols: int = len(GRIDS), start: int = SIGNALS_START
) -> np.ndarray:
    """SIGNAL_DTYPE rows of bars opening over 6 h from `start`, distinct keys (low_ticks differs
    per row), one NaN strength."""
    rng = np.random.default_rng(seed)
    out = np.zeros(n, SIGNAL_DTYPE)
    out["sym"] = rng.integers(0, n_symbols, n)
    out["tf_ms"] = rng.choice([MINUTE_MS, 5 * MINUTE_MS, 15 * MINUTE_MS], n)
    out["bar_time"] = (start + rng.integers(0, SIGNALS_SPAN_MS, n)) // out["tf_ms"] * out["tf_ms"]
    out["bin_ticks"] = rng.integers(1, 11, n)
    out["kind"] = rng.integers(0, len(KINDS), n)
    out["side"] = rng.integers(0, len(SIDES), n)
    out["levels"] = rng.integers(1, 9, n)
    out["low_ticks"] = out["bin_ticks"] * (10_000 + np.arange(n))
    out["high_ticks"] = out["low_ticks"] + (out["levels"] - 1) * out["bin_ticks"]
    out["volume"] = rng.integers(1, 1_000_000, n)
    out["notional"] = out["volume"] * out["low_ticks"] + rng.integers(0, 1000, n)
    out["strength"] = rng.random(n) * 5
    out["strength"][n // 2] = np.nan  # stored as NULL, read back as NaN
    return out


def by_symbol(rows: np.ndarray, reg: SymbolRegistry) -> list[tuple]:
    """Rows as sorted tuples with the symbol's name for its index (registries may differ)."""
    names = reg.symbols
    out = [(names[r[0]], *r[1:-1], "nan" if np.isnan(r[-1]) else r[-1]) for r in rows.tolist()]
    return sorted(out)
