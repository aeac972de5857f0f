"""Capped contract-seconds: flags and capped notional against a plain loop over the rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.analytics.liquidations import capped_seconds, liquidation_totals


def naive_flags(symbols: list[str], times: list[int]) -> list[bool]:
    seconds = list(zip(symbols, [t // 1000 for t in times], strict=True))
    flags = []
    for i, (s, sec) in enumerate(seconds):
        others = seconds[:i] + seconds[i + 1 :]
        flags.append((s, sec - 1) in others or (s, sec + 1) in others or (s, sec) in others)
    return flags


def test_flags_equal_a_loop_and_a_hand_case() -> None:
    # A at seconds 10, 11 (consecutive) and 15; B at 11 alone.
    got = capped_seconds(np.array([0, 0, 0, 1]), np.array([10_400, 11_900, 15_000, 11_100]))
    assert got.tolist() == [True, True, False, False]
    rng = np.random.default_rng(4)
    sym = rng.integers(0, 6, 400)
    times = rng.integers(0, 120_000, 400)
    names = [f"S{s}" for s in sym]
    assert capped_seconds(sym, times).tolist() == naive_flags(names, times.tolist())


def test_totals_carry_the_capped_notional() -> None:
    rng = np.random.default_rng(5)
    n = 300
    frame = pd.DataFrame(
        {
            "symbol": [f"S{s}" for s in rng.integers(0, 5, n)],
            "time": np.sort(rng.integers(0, 600_000, n)),
            "side": np.where(rng.random(n) < 0.5, "long", "short").astype(object),
            "price": 10.0,
            "qty": rng.integers(1, 100, n).astype(float),
        }
    )
    frame["notional"] = frame["price"] * frame["qty"]
    totals = liquidation_totals(frame, 600_000, windows=("1h",)).set_index("symbol")
    flags = naive_flags(frame["symbol"].tolist(), frame["time"].tolist())
    for symbol, part in frame.assign(flag=flags).groupby("symbol"):
        assert np.isclose(
            totals.loc[symbol, "capped_notional"], part["notional"][part["flag"]].sum()
        )
        assert np.isclose(totals.loc[symbol, "total_notional"], part["notional"].sum())
    assert 0 < totals["capped_notional"].sum() < totals["total_notional"].sum()
