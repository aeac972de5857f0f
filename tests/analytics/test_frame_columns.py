"""The compiled frame -> grid conversion against Decimal arithmetic and the numpy path."""

from __future__ import annotations

import io
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.footprint import FootprintRules, build_footprint, footprint_from_records
from pipelines.analytics.tradeframe import (
    contract_spec,
    frame_columns,
    frame_records,
    infer_decimals,
)
from pipelines.binance.archive import trades_from_frame


def _csv(prices: list[str], quantities: list[str]) -> pd.DataFrame:
    rows = [
        f"{i},{p},{q},{i},{i},{1_700_000_000_000 + 250 * i},{'true' if i % 3 else 'false'}"
        for i, (p, q) in enumerate(zip(prices, quantities, strict=True))
    ]
    text = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
    return pd.read_csv(io.StringIO(text + "\n".join(rows)))


def _decimal_units(texts: list[str], size: str) -> list[int]:
    return [int(Decimal(t) / Decimal(size)) for t in texts]


def test_adversarial_prices_land_on_their_ticks_given_or_inferred():
    prices = ["0.29", "0.57", "1.13", "0.3", "1.01"]
    frame = _csv(prices, ["1", "2", "3", "4", "5"])
    assert np.floor(frame["price"].to_numpy() / 0.01).astype(int).tolist()[:3] == [28, 56, 112]
    spec, records = frame_records(frame, tick_size="0.01")
    assert records["price"].tolist() == _decimal_units(prices, "0.01") == [29, 57, 113, 30, 101]
    spec, inferred = frame_records(frame)
    assert (spec.price_decimals, spec.tick_units) == (2, 1)
    assert inferred["price"].tolist() == [29, 57, 113, 30, 101]
    assert inferred["qty"].tolist() == [1, 2, 3, 4, 5]


def test_random_decimal_text_matches_decimal_and_the_numpy_path():
    rng = np.random.default_rng(3)
    n = 5_000
    for tick, step, p_dec, q_dec in (
        ("0.005", "0.001", 3, 3),
        ("0.1", "1", 1, 0),
        ("0.0001", "0.1", 4, 1),
    ):
        tick_units = int(Decimal(tick).scaleb(p_dec))
        ticks = rng.integers(1, 10**7, n)
        steps = rng.integers(1, 10**5, n)
        prices = [f"{Decimal(int(t) * tick_units).scaleb(-p_dec):f}" for t in ticks]
        quantities = [
            f"{Decimal(int(s)).scaleb(-q_dec) * Decimal(step).scaleb(q_dec):f}" for s in steps
        ]
        frame = _csv(prices, quantities)
        spec, records = frame_records(frame, tick_size=tick, step_size=step)
        assert records["price"].tolist() == _decimal_units(prices, tick)
        assert records["qty"].tolist() == _decimal_units(quantities, step)
        np.testing.assert_array_equal(records, trades_from_frame(frame, spec))
        # Inferred: the grid is 10**-d of the largest decimals present, as contract_spec says.
        inferred_spec, inferred = frame_records(frame)
        assert inferred_spec == contract_spec(frame)
        np.testing.assert_array_equal(inferred, trades_from_frame(frame, inferred_spec))


def test_decimals_that_appear_late_redo_the_rows_before():
    prices = ["100", "101.5", "102", "99.25", "100.125"]
    frame = _csv(prices, ["1", "1", "0.5", "1", "0.25"])
    spec, records = frame_records(frame)
    assert (spec.price_decimals, spec.qty_decimals) == (3, 2)
    assert records["price"].tolist() == _decimal_units(prices, "0.001")
    assert records["qty"].tolist() == [100, 100, 50, 100, 25]
    spec_c, cols = frame_columns(frame)
    assert spec_c == spec and cols["price"].tolist() == records["price"].tolist()


def test_bad_values_give_one_clear_error():
    frame = _csv(["1.5", "2.5"], ["1", "1"])
    frame.loc[1, "price"] = np.nan
    with pytest.raises(ValueError, match=r"finite.*row 1"):
        frame_records(frame, tick_size="0.1")
    frame.loc[1, "price"] = 1 / 3
    with pytest.raises(ValueError, match="12 decimals"):
        frame_records(frame)
    assert infer_decimals(np.array([0.29, np.nan, 1.125])) == 3
    with pytest.raises(ValueError, match="lack the columns"):
        frame_records(frame.drop(columns="quantity"))


def test_build_footprint_equals_the_record_path_in_or_out_of_order():
    rng = np.random.default_rng(5)
    n = 20_000
    prices = [
        f"{Decimal(int(t)).scaleb(-1):f}" for t in 600_000 + np.cumsum(rng.integers(-3, 4, n))
    ]
    quantities = [f"{Decimal(int(s)).scaleb(-3):f}" for s in rng.geometric(0.05, n)]
    frame = _csv(prices, quantities)
    frame["transact_time"] = 1_700_000_000_000 + np.cumsum(rng.integers(0, 40, n))
    spec = contract_spec(frame, tick_size="0.1")
    rules = FootprintRules.make(spec, price_bin_ticks=5, timeframe="5m")
    expected = footprint_from_records(trades_from_frame(frame, spec), spec, rules)
    shuffled = frame.sample(frac=1.0, random_state=1)
    for df in (frame, shuffled):
        got = build_footprint(df, tick_size="0.1", price_bin_ticks=5, timeframe="5m")
        assert got.spec == spec
        pd.testing.assert_frame_equal(got.levels, expected.levels)
        pd.testing.assert_frame_equal(got.bars, expected.bars)
