"""Several contract-days on one grid, exactly.

An archive day's grid is inferred from its own decimals, so two days of one contract may sit on
different grids. Joining them (a previous day as warm-up, a research range in one profile)
takes the finest: unit 10**-d for the most decimals among them, onto which every day's ticks and
steps scale by an integer. Days that already share a grid keep it (the store's exchange grid,
e.g. a tick of 0.5, stays in exchange ticks).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipelines.binance.contracts import ContractSpec


def common_spec(symbol: str, specs: Sequence[ContractSpec]) -> ContractSpec:
    """The grid every spec in `specs` scales onto by whole numbers (see the module doc)."""
    if not specs:
        raise ValueError(f"no grid to join for {symbol}")
    first = specs[0]
    if all((s.tick_size, s.step_size) == (first.tick_size, first.step_size) for s in specs):
        return ContractSpec(symbol, first.tick_size, first.step_size)
    p_dec = max(s.price_decimals for s in specs)
    q_dec = max(s.qty_decimals for s in specs)
    return ContractSpec(symbol, f"{10.0**-p_dec:.{p_dec}f}", f"{10.0**-q_dec:.{q_dec}f}")


def scale_factors(spec: ContractSpec, common: ContractSpec) -> tuple[int, int]:
    """(ticks, steps) multipliers from `spec` onto `common` (a grid from `common_spec`)."""
    if (spec.tick_size, spec.step_size) == (common.tick_size, common.step_size):
        return 1, 1
    price = spec.tick_units * 10 ** (common.price_decimals - spec.price_decimals)
    qty = spec.step_units * 10 ** (common.qty_decimals - spec.qty_decimals)
    if price % common.tick_units or qty % common.step_units:
        raise ValueError(f"{spec.symbol}: grid {spec.tick_size}/{spec.step_size} is not on "
                         f"{common.tick_size}/{common.step_size}")  # fmt: skip
    return price // common.tick_units, qty // common.step_units


def records_on(records: np.ndarray, spec: ContractSpec, common: ContractSpec) -> np.ndarray:
    """`TRADE_DTYPE` records on `spec` re-expressed on `common` (the same array when equal)."""
    price, qty = scale_factors(spec, common)
    if (price, qty) == (1, 1):
        return records
    out = records.copy()
    out["price"] *= price
    out["qty"] *= qty
    return out
