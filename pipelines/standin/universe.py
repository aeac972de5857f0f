"""The stand-in's contract universe and its `exchangeInfo` document.

A universe is deterministic for a seed: a fixed head of well-known contracts (BTC and ETH first,
a non-ASCII symbol, TradFi perpetuals, a quarterly delivery contract, a USDC perpetual), then
generated alt perpetuals (`ABC1USDT`, ...) with log-uniform prices and the tick and step sizes
Binance would give them. `pricePrecision` deliberately differs from the tick decimals on some
contracts, as it does on Binance, so a client that reads it as the tick size goes wrong.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from pipelines.binance.contracts import PERPETUAL, TRADIFI_PERPETUAL, ContractSpec
from pipelines.binance.endpoints import REST_WEIGHT_LIMIT_PER_MINUTE
from pipelines.records.timeunits import DAY_MS

TRADING = "TRADING"
SETTLING = "SETTLING"
PENDING_TRADING = "PENDING_TRADING"
CURRENT_QUARTER = "CURRENT_QUARTER"
_PERPETUAL_DELIVERY_DATE = 4133404800000  # what Binance sends for perpetuals (2100-12-25)
_QUARTER_DELIVERY_DATE = 1798185600000  # 2026-12-25 08:00 UTC
_ONBOARD_BASE = 1569398400000  # 2019-09-25, the first USD-M listing


@dataclass(frozen=True, slots=True)
class Contract:
    """A contract the stand-in lists: its grid plus what exchangeInfo says about it."""

    spec: ContractSpec
    price: float  # price at the stand-in's start
    price_precision: int
    quantity_precision: int
    base_asset: str
    pair: str
    underlying_type: str = "COIN"
    delivery_date: int = _PERPETUAL_DELIVERY_DATE
    initial_status: str = TRADING

    @property
    def symbol(self) -> str:
        return self.spec.symbol

    @property
    def wire_price_decimals(self) -> int:
        """Decimals of prices on the wire: never fewer than the tick needs."""
        return max(self.price_precision, self.spec.price_decimals)

    @property
    def wire_qty_decimals(self) -> int:
        return max(self.quantity_precision, self.spec.qty_decimals)

    def exchange_info_entry(self, status: str) -> dict:
        spec = self.spec
        tick = _decimal_text(spec.tick_size, self.wire_price_decimals)
        step = _decimal_text(spec.step_size, spec.qty_decimals)
        limits = _filter_values(spec, self.price, self.wire_price_decimals)
        return {
            "symbol": spec.symbol,
            "pair": self.pair,
            "contractType": spec.contract_type if status != PENDING_TRADING else "",
            "deliveryDate": self.delivery_date,
            "onboardDate": spec.onboard_date,
            "status": status,
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": self.base_asset,
            "quoteAsset": spec.quote_asset,
            "marginAsset": spec.quote_asset,
            "pricePrecision": self.price_precision,
            "quantityPrecision": self.quantity_precision,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": self.underlying_type,
            "underlyingSubType": [],
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            # Key order inside filters differs between filters, as on Binance.
            "filters": [
                {
                    "maxPrice": limits["max_price"],
                    "tickSize": tick,
                    "filterType": "PRICE_FILTER",
                    "minPrice": limits["min_price"],
                },
                {
                    "stepSize": step,
                    "minQty": step,
                    "maxQty": limits["max_qty"],
                    "filterType": "LOT_SIZE",
                },
                {
                    "minQty": step,
                    "maxQty": limits["max_market_qty"],
                    "filterType": "MARKET_LOT_SIZE",
                    "stepSize": step,
                },
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"notional": limits["min_notional"], "filterType": "MIN_NOTIONAL"},
                {
                    "multiplierDown": "0.9500",
                    "multiplierUp": "1.0500",
                    "multiplierDecimal": "4",
                    "filterType": "PERCENT_PRICE",
                },
                {"filterType": "POSITION_RISK_CONTROL", "positionControlSide": "NONE"},
            ],
            "orderTypes": [
                "LIMIT",
                "MARKET",
                "STOP",
                "STOP_MARKET",
                "TAKE_PROFIT",
                "TAKE_PROFIT_MARKET",
                "TRAILING_STOP_MARKET",
            ],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
            "permissionSets": ["GRID", "COPY", "DCA", "PSB"],
        }


# BTCUSDT's real filters (exchangeInfo 2026-10-07); other contracts scale them by price.
_BTC_FILTERS = {
    "min_price": "556.80",
    "max_price": "4529764",
    "max_qty": "1000",
    "max_market_qty": "120",
    "min_notional": "50",
}
_MIN_NOTIONAL = {"BTCUSDT": "50", "ETHUSDT": "20"}  # 5 on the rest


def _filter_values(spec: ContractSpec, price: float, price_decimals: int) -> dict[str, str]:
    """Price band and size limits as Binance sets them: about 1/140 to 55 times the price,
    at most ~80 M USD per limit order and ~10 M USD per market order."""
    if spec.symbol == "BTCUSDT":
        return _BTC_FILTERS
    tick, step = Decimal(spec.tick_size), Decimal(spec.step_size)
    min_price = max((Decimal(price / 140) / tick).to_integral_value() * tick, tick)
    return {
        "min_price": _decimal_text(str(min_price), price_decimals),
        "max_price": _round_number(price * 55),
        "max_qty": _round_number(max(80e6 / price, float(step) * 1000), step),
        "max_market_qty": _round_number(max(10e6 / price, float(step) * 100), step),
        "min_notional": _MIN_NOTIONAL.get(spec.symbol, "5"),
    }


def _round_number(value: float, step: Decimal = Decimal(1)) -> str:
    """A round limit (two significant digits), on the step grid and at least one step."""
    exponent = math.floor(math.log10(value)) - 1
    rounded = Decimal(round(value / 10**exponent)).scaleb(exponent)
    on_grid = max((rounded / step).to_integral_value() * step, step)
    return f"{on_grid.normalize():f}"


def _decimal_text(value: str, decimals: int) -> str:
    return f"{Decimal(value):.{decimals}f}"


def _grid_text(exponent: int, units: int = 1) -> str:
    """units * 10**exponent as a plain decimal string ('0.005', '1')."""
    value = Decimal(units).scaleb(exponent)
    return f"{value:f}" if exponent < 0 else str(int(value))


def _contract(
    symbol: str,
    price: float,
    tick: str,
    step: str,
    *,
    price_precision: int | None = None,
    quantity_precision: int | None = None,
    contract_type: str = PERPETUAL,
    quote: str = "USDT",
    underlying: str = "COIN",
    delivery: int = _PERPETUAL_DELIVERY_DATE,
    status: str = TRADING,
    onboard: int = _ONBOARD_BASE,
) -> Contract:
    spec = ContractSpec(
        symbol,
        tick,
        step,
        contract_type=contract_type,
        status=status,
        quote_asset=quote,
        onboard_date=onboard,
    )
    base = symbol.split("_")[0].removesuffix(quote)
    return Contract(
        spec=spec,
        price=price,
        price_precision=spec.price_decimals if price_precision is None else price_precision,
        quantity_precision=spec.qty_decimals if quantity_precision is None else quantity_precision,
        base_asset=base,
        pair=symbol.split("_")[0],
        underlying_type=underlying,
        delivery_date=delivery,
        initial_status=status,
    )


def _head() -> list[Contract]:
    """Well-known contracts, in activity order (BTC and ETH dominate)."""
    return [
        _contract("BTCUSDT", 80_000.0, "0.10", "0.001", price_precision=2),
        _contract("ETHUSDT", 3_000.0, "0.01", "0.001"),
        _contract("SOLUSDT", 180.0, "0.0100", "0.01", price_precision=4),
        _contract("XRPUSDT", 2.5, "0.0001", "0.1"),
        _contract("BNBUSDT", 600.0, "0.010", "0.01", price_precision=3),
        _contract("DOGEUSDT", 0.2, "0.00001", "1", price_precision=6),
        _contract(
            "XAUUSDT",
            4_100.0,
            "0.01",
            "0.001",
            contract_type=TRADIFI_PERPETUAL,
            underlying="COMMODITY",
        ),
        _contract("1000PEPEUSDT", 0.0105, "0.0000001", "1"),
        _contract("币安人生USDT", 0.48, "0.0001", "1", price_precision=7),
        _contract(
            "BTCUSDT_261225",
            81_200.0,
            "0.10",
            "0.001",
            price_precision=2,
            contract_type=CURRENT_QUARTER,
            delivery=_QUARTER_DELIVERY_DATE,
        ),
        _contract(
            "XAGUSDT",
            60.0,
            "0.01",
            "0.001",
            contract_type=TRADIFI_PERPETUAL,
            underlying="COMMODITY",
        ),
        _contract("LINKUSDT", 15.0, "0.005", "0.01", price_precision=3),
        _contract("ETHUSDC", 3_000.0, "0.01", "0.001", quote="USDC"),
        _contract(
            "TSLAUSDT", 430.0, "0.01", "0.01", contract_type=TRADIFI_PERPETUAL, underlying="EQUITY"
        ),
    ]


def _extras() -> list[Contract]:
    """Listed but not trading: a delisted perpetual (SETTLING) and a pending listing."""
    return [
        _contract("OMGUSDT", 0.25, "0.0001", "0.1", status=SETTLING),
        _contract("NEWLISTUSDT", 1.0, "0.0001", "1", status=PENDING_TRADING),
    ]


def _alt_name(i: int) -> str:
    letters = string.ascii_uppercase
    return f"{letters[i // 260 % 26]}{letters[i // 10 % 26]}{letters[i // 6760 % 26]}{i % 10}USDT"


def generated_contract(symbol: str, rng: np.random.Generator) -> Contract:
    """An alt perpetual with a log-uniform price in [0.0001, 5000] and a matching grid."""
    price = float(10 ** rng.uniform(-4.0, math.log10(5000.0)))
    # Binance keeps about 4-5 significant digits: tick ~ price / 10**4, within [1e-7, 0.01].
    tick_exp = int(np.clip(math.floor(math.log10(price)) - 4, -7, -2))
    tick_units = 5 if rng.random() < 0.08 and tick_exp < -2 else 1
    # One step is worth roughly a few USD at most: 1, 0.1, 0.01 or 0.001.
    step_exp = int(np.clip(math.floor(math.log10(10.0 / price)), -3, 0))
    tick = _grid_text(tick_exp, tick_units)
    price_precision = -tick_exp + (int(rng.integers(1, 3)) if rng.random() < 0.15 else 0)
    onboard = _ONBOARD_BASE + int(rng.integers(0, 2_000)) * DAY_MS
    return _contract(
        symbol, price, tick, _grid_text(step_exp), price_precision=price_precision, onboard=onboard
    )


def build_universe(n_symbols: int, seed: int) -> list[Contract]:
    """`n_symbols` trading contracts (head first, then generated alts) plus the non-trading extras."""
    if n_symbols < 1:
        raise ValueError(f"the universe needs at least one contract, got {n_symbols}")
    rng = np.random.default_rng([seed, 0x5EED])
    contracts = _head()[:n_symbols]
    i = 0
    while len(contracts) < n_symbols:
        contracts.append(generated_contract(_alt_name(i), rng))
        i += 1
    return contracts + _extras()


def replay_contract(symbol: str, price: float, price_decimals: int, qty_decimals: int) -> Contract:
    """A perpetual for a replayed symbol, its grid inferred from the decimals seen on the wire."""
    return _contract(symbol, price, _grid_text(-price_decimals), _grid_text(-qty_decimals))


def exchange_info(contracts: list[Contract], statuses: list[str], server_time: int) -> dict:
    """The `GET /fapi/v1/exchangeInfo` body; delisted contracts stay listed as SETTLING."""
    assets = sorted({c.spec.quote_asset for c in contracts} | {"BTC", "BNB"})
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": REST_WEIGHT_LIMIT_PER_MINUTE,
            },
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        ],
        "exchangeFilters": [],
        "assets": [
            {"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"} for a in assets
        ],
        "symbols": [c.exchange_info_entry(s) for c, s in zip(contracts, statuses, strict=True)],
    }
