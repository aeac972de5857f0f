"""Contract specifications from `exchangeInfo` and the fixed-point grid they define.

Prices are held as integer ticks and quantities as integer step units: binning floats lies
(floor(0.3 / 0.1) * 0.1 == 0.2). Tick and step come from the PRICE_FILTER and LOT_SIZE filters,
never from `pricePrecision` / `quantityPrecision`, which Binance says not to use as such.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

PERPETUAL = "PERPETUAL"
TRADIFI_PERPETUAL = "TRADIFI_PERPETUAL"
DELIVERY_TYPES = ("CURRENT_QUARTER", "NEXT_QUARTER", "CURRENT_MONTH", "NEXT_MONTH")


def _fixed_point(text: str) -> tuple[int, int]:
    """'0.10' -> (decimals=1, units=1); '0.005' -> (3, 5); '10' -> (0, 10)."""
    value = Decimal(text).normalize()
    if value <= 0:
        raise ValueError(f"grid size must be positive, got {text!r}")
    exponent = value.as_tuple().exponent
    decimals = max(0, -int(exponent))
    return decimals, int(value.scaleb(decimals))


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """One USD-M contract and its price/quantity grid."""

    symbol: str
    tick_size: str
    step_size: str
    contract_type: str = PERPETUAL
    status: str = "TRADING"
    quote_asset: str = "USDT"
    onboard_date: int = 0
    price_decimals: int = field(init=False, compare=False)
    tick_units: int = field(init=False, compare=False)  # tick size in units of 10**-price_decimals
    qty_decimals: int = field(init=False, compare=False)
    step_units: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        price_decimals, tick_units = _fixed_point(self.tick_size)
        qty_decimals, step_units = _fixed_point(self.step_size)
        object.__setattr__(self, "price_decimals", price_decimals)
        object.__setattr__(self, "tick_units", tick_units)
        object.__setattr__(self, "qty_decimals", qty_decimals)
        object.__setattr__(self, "step_units", step_units)

    @property
    def tick(self) -> float:
        return float(self.tick_size)

    @property
    def step(self) -> float:
        return float(self.step_size)

    def price_to_ticks(self, prices: np.ndarray | float) -> np.ndarray:
        """Wire prices (decimal strings read as float) to integer ticks, exactly."""
        units = np.rint(np.asarray(prices, dtype=np.float64) * 10.0**self.price_decimals)
        return units.astype(np.int64) // self.tick_units

    def qty_to_steps(self, quantities: np.ndarray | float) -> np.ndarray:
        units = np.rint(np.asarray(quantities, dtype=np.float64) * 10.0**self.qty_decimals)
        return units.astype(np.int64) // self.step_units

    def ticks_to_price(self, ticks: np.ndarray | int) -> np.ndarray:
        """Integer ticks back to float prices, rounded to the grid's decimals."""
        units = np.asarray(ticks, dtype=np.int64) * self.tick_units
        return np.round(units / 10.0**self.price_decimals, self.price_decimals)

    def steps_to_qty(self, steps: np.ndarray | int) -> np.ndarray:
        units = np.asarray(steps, dtype=np.int64) * self.step_units
        return np.round(units / 10.0**self.qty_decimals, self.qty_decimals)

    def format_price(self, ticks: int) -> str:
        return f"{float(self.ticks_to_price(ticks)):.{self.price_decimals}f}"


def _filters_by_type(entry: dict) -> dict[str, dict]:
    # The key order inside filters is not stable; index them by filterType.
    return {f.get("filterType"): f for f in entry.get("filters", ())}


def parse_contract(entry: dict) -> ContractSpec:
    filters = _filters_by_type(entry)
    return ContractSpec(
        symbol=entry["symbol"],
        tick_size=filters["PRICE_FILTER"]["tickSize"],
        step_size=filters["LOT_SIZE"]["stepSize"],
        contract_type=entry.get("contractType", ""),
        status=entry.get("status", ""),
        quote_asset=entry.get("quoteAsset", ""),
        onboard_date=int(entry.get("onboardDate", 0)),
    )


def parse_exchange_info(
    body: dict,
    *,
    contract_types: Iterable[str] = (PERPETUAL,),
    trading_only: bool = True,
) -> list[ContractSpec]:
    """The USD-M contracts of an `exchangeInfo` answer that the screener watches.

    Entries without a PRICE_FILTER or LOT_SIZE are skipped: without a grid nothing can be binned.
    """
    wanted = set(contract_types)
    specs = []
    for entry in body.get("symbols", ()):
        if trading_only and entry.get("status") != "TRADING":
            continue
        if entry.get("contractType") not in wanted:
            continue
        try:
            specs.append(parse_contract(entry))
        except (KeyError, ValueError, ArithmeticError):
            continue
    return specs
