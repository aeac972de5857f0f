"""The row order of an all-contracts chart: chosen by the trader, stable between refreshes.

A heatmap whose rows re-sort every two seconds cannot be read: a contract the eye follows
jumps. `RowOrder` sorts once, when the choice is made (or on `resort`), and afterwards only
drops contracts that are gone and appends new ones at the end, in the chosen order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

ORDERS = ("24h volume", "|imbalance|", "name", "volume tier")
# 24 h quote volume tiers (USD), largest first: rows grouped by tier, by name inside a tier.
VOLUME_TIERS = (1e9, 1e8, 1e7, 1e6, 0.0)


def volume_tier(volume: float) -> int:
    """0 for the largest tier; NaN or missing volume falls in the last tier."""
    for i, floor in enumerate(VOLUME_TIERS):
        if volume >= floor:
            return i
    return len(VOLUME_TIERS) - 1


def sort_symbols(
    symbols: Iterable[str],
    how: str,
    volume: Mapping[str, float] | None = None,
    imbalance: Mapping[str, float] | None = None,
) -> list[str]:
    """`symbols` in the order `how` (one of ORDERS); ties and missing values by name."""
    if how not in ORDERS:
        raise ValueError(f"unknown order {how!r}; use one of {', '.join(ORDERS)}")
    names = sorted(set(symbols))
    volume = volume or {}
    imbalance = imbalance or {}

    def number(mapping: Mapping[str, float], s: str) -> float:
        value = mapping.get(s, np.nan)
        return -1.0 if value is None or not np.isfinite(value) else float(value)

    if how == "24h volume":
        return sorted(names, key=lambda s: -number(volume, s))  # sorted() is stable: by name
    if how == "|imbalance|":
        return sorted(names, key=lambda s: -abs(number(imbalance, s)) if s in imbalance else 1.0)
    if how == "volume tier":
        return sorted(names, key=lambda s: volume_tier(number(volume, s)))
    return names


class RowOrder:
    """The rows of the chart; `update` keeps their order, `resort` makes a new one."""

    def __init__(self, how: str = ORDERS[0]) -> None:
        sort_symbols((), how)  # validates
        self.how = how
        self.rows: list[str] = []
        self._position: dict[str, int] = {}

    def resort(
        self,
        symbols: Iterable[str],
        how: str | None = None,
        volume: Mapping[str, float] | None = None,
        imbalance: Mapping[str, float] | None = None,
    ) -> list[str]:
        self.how = how or self.how
        self._set(sort_symbols(symbols, self.how, volume, imbalance))
        return self.rows

    def update(
        self,
        symbols: Iterable[str],
        volume: Mapping[str, float] | None = None,
        imbalance: Mapping[str, float] | None = None,
    ) -> list[str]:
        """Rows for `symbols`: the known ones where they were, new ones appended."""
        wanted = set(symbols)
        if not self.rows:
            return self.resort(wanted, None, volume, imbalance)
        kept = [s for s in self.rows if s in wanted]
        new = sort_symbols(wanted.difference(self._position), self.how, volume, imbalance)
        if new or len(kept) != len(self.rows):
            self._set(kept + new)
        return self.rows

    def index(self, symbol: str) -> int | None:
        return self._position.get(symbol)

    def _set(self, rows: list[str]) -> None:
        self.rows = rows
        self._position = {s: i for i, s in enumerate(rows)}
