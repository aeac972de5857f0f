"""Market breadth per minute against plain loops over the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.analytics.breadth import WIDENING_MIN, market_breadth

MINUTE = 60_000


def test_breadth_equals_loops_and_a_burst_widens() -> None:
    rng = np.random.default_rng(8)
    symbols = [f"S{i}" for i in range(40)]
    minutes = np.arange(50) * MINUTE
    values = rng.uniform(-1, 1, (40, 50))
    values[rng.random((40, 50)) < 0.2] = np.nan
    heatmap = pd.DataFrame(values, index=symbols, columns=minutes)
    orders = pd.DataFrame(
        {"time": rng.integers(0, 50 * MINUTE, 120), "symbol": rng.choice(symbols[:3], 120)}
    )
    # Minute 45: 30 contracts liquidate at once; otherwise one contract now and then.
    burst = pd.DataFrame({"time": 45 * MINUTE + np.arange(30) * 100, "symbol": symbols[:30]})
    calm = pd.DataFrame({"time": np.arange(0, 40) * MINUTE + 5, "symbol": "S1"})
    liquidations = pd.concat([calm, burst], ignore_index=True)
    liquidations["notional"] = rng.uniform(1e3, 1e5, len(liquidations))

    got = market_breadth(heatmap, orders, liquidations).set_index("minute")
    for j, m in enumerate(minutes):
        column = [values[i, j] for i in range(40)]
        assert got.loc[m, "buyers"] == sum(1 for v in column if v > 0)
        assert got.loc[m, "sellers"] == sum(1 for v in column if v < 0)
        in_minute = [r for r in orders.itertuples() if r.time // MINUTE * MINUTE == m]
        assert got.loc[m, "big_orders"] == len(in_minute)
        assert got.loc[m, "sweeping"] == len({r.symbol for r in in_minute})
        liq = [r for r in liquidations.itertuples() if r.time // MINUTE * MINUTE == m]
        assert np.isclose(got.loc[m, "liquidated"], sum(r.notional for r in liq))
        assert got.loc[m, "liquidating"] == len({r.symbol for r in liq})
    assert got.loc[45 * MINUTE, "liquidating"] == 30 >= WIDENING_MIN
    assert list(got.index[got["widening"]]) == [45 * MINUTE]
