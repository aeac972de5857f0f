"""Symbol registry: a stable integer index per contract, and per-index grid arrays.

Batches carry the index (int32) instead of the symbol string so that a whole micro-batch can be
converted to ticks and steps in a few vector operations. Indices are never reused, so a delisted
contract's history keeps its meaning while a newly listed one gets a fresh index.
"""

from __future__ import annotations

import numpy as np

from pipelines.binance.contracts import ContractSpec


class SymbolRegistry:
    def __init__(self, specs: list[ContractSpec] | None = None) -> None:
        self._index: dict[str, int] = {}
        self._specs: list[ContractSpec] = []
        self.active: set[str] = set()
        self._price_scale = np.zeros(0)
        self._tick_units = np.zeros(0, dtype=np.int64)
        self._qty_scale = np.zeros(0)
        self._step_units = np.zeros(0, dtype=np.int64)
        for spec in specs or ():
            self.add(spec)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._index

    def add(self, spec: ContractSpec) -> int:
        """Register (or re-activate) a contract; returns its index."""
        self.active.add(spec.symbol)
        if spec.symbol in self._index:
            return self._index[spec.symbol]
        idx = len(self._specs)
        self._index[spec.symbol] = idx
        self._specs.append(spec)
        self._price_scale = np.append(self._price_scale, 10.0**spec.price_decimals)
        self._tick_units = np.append(self._tick_units, spec.tick_units)
        self._qty_scale = np.append(self._qty_scale, 10.0**spec.qty_decimals)
        self._step_units = np.append(self._step_units, spec.step_units)
        return idx

    def known(self, rows: np.ndarray) -> np.ndarray:
        """Mask of the rows (any dtype with a `sym` field) whose index is in this registry.

        Rows of other indices (a registry of another process, a corrupted batch) would index
        past the per-symbol arrays; every consumer drops them with this one check.
        """
        sym = rows["sym"]
        return (sym >= 0) & (sym < len(self._specs))

    def deactivate(self, symbol: str) -> None:
        self.active.discard(symbol)

    def index(self, symbol: str) -> int | None:
        return self._index.get(symbol)

    def spec(self, symbol_or_index: str | int) -> ContractSpec:
        if isinstance(symbol_or_index, str):
            return self._specs[self._index[symbol_or_index]]
        return self._specs[symbol_or_index]

    def symbol(self, index: int) -> str:
        return self._specs[index].symbol

    @property
    def symbols(self) -> list[str]:
        return [s.symbol for s in self._specs]

    def to_ticks(self, sym: np.ndarray, prices: np.ndarray) -> np.ndarray:
        units = np.rint(prices * self._price_scale[sym]).astype(np.int64)
        return units // self._tick_units[sym]

    def to_steps(self, sym: np.ndarray, quantities: np.ndarray) -> np.ndarray:
        units = np.rint(quantities * self._qty_scale[sym]).astype(np.int64)
        return units // self._step_units[sym]

    def tick_size(self, sym: np.ndarray) -> np.ndarray:
        return self._tick_units[sym] / self._price_scale[sym]

    def step_size(self, sym: np.ndarray) -> np.ndarray:
        return self._step_units[sym] / self._qty_scale[sym]
