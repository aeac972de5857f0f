"""Grid inference and frame conversion used by every analytics entry point."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.footprint import FootprintRules
from pipelines.analytics.tradeframe import (
    Grid,
    contract_spec,
    in_trade_order,
    infer_decimals,
    records_from_frame,
)
from pipelines.binance.contracts import ContractSpec


def test_infer_decimals_from_wire_values():
    assert infer_decimals(np.array([0.006, 0.199, 1.0])) == 3
    assert infer_decimals(np.array([61800.3, 61800.0])) == 1
    assert infer_decimals(np.array([312.0, 2644.0])) == 0
    assert infer_decimals(np.array([0.01731])) == 5
    with pytest.raises(ValueError, match="decimals"):
        infer_decimals(np.array([1 / 3]))


def test_contract_spec_infers_only_what_is_missing():
    frame = pd.DataFrame({"price": [0.01731, 0.0173], "quantity": [312.0, 10.0]})
    spec = contract_spec(frame, tick_size="0.00001")
    assert (spec.tick_size, spec.step_units, spec.qty_decimals) == ("0.00001", 1, 0)
    with pytest.raises(ValueError, match="positive"):
        contract_spec(frame, tick_size=-1)


def test_records_from_a_multi_symbol_frame_keep_row_order_and_own_grids():
    frame = pd.DataFrame(
        {
            "symbol": ["B", "A", "B"],
            "price": [10.5, 0.123, 11.0],
            "quantity": [1.0, 0.5, 2.0],
            "transact_time": [3, 2, 1],
            "is_buyer_maker": ["true", "False", True],
        }
    )
    given = {"A": ContractSpec("A", "0.001", "0.1")}
    records, registry = records_from_frame(frame, specs=given)
    assert registry.symbols == ["A", "B"]
    assert registry.spec("A") == given["A"]
    assert records["sym"].tolist() == [1, 0, 1]
    assert records["price"].tolist() == [105, 123, 110]  # B inferred: tick 0.1
    assert records["qty"].tolist() == [1, 5, 2]
    assert records["buyer_maker"].tolist() == [True, False, True]
    ordered = in_trade_order(records)
    assert ordered["sym"].tolist() == [0, 1, 1] and ordered["time"].tolist() == [2, 1, 3]
    grid = Grid.of(registry)
    assert grid.price(records["sym"], records["price"]).tolist() == [10.5, 0.123, 11.0]
    assert grid.quote(np.array([1]), np.array([105 * 1])).tolist() == [10.5]


def test_min_volume_to_steps_rounds_up_between_steps_only():
    spec = ContractSpec("X", "0.1", "0.001")
    assert FootprintRules.make(spec, imbalance_min_volume=9 * 0.001).min_steps == 9
    assert FootprintRules.make(spec, imbalance_min_volume=0.0015).min_steps == 2
    assert FootprintRules.make(spec, imbalance_min_volume=0).min_steps == 1
