"""Big taker orders: ADV from klines, order grouping against a plain loop, the streaming detector
against the pure function for any batch split, and the screener history."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.analytics.bigorders import (
    DAY_MS,
    BigOrderDetector,
    average_daily_volume,
    average_daily_volumes,
    big_mask,
    big_orders,
    next_refresh_ms,
    orders_frame,
    taker_orders,
)
from pipelines.binance.archive import read_agg_trades_csv, trades_from_frame
from pipelines.binance.parsers import parse_klines
from pipelines.binance.registry import SymbolRegistry
from tests.analytics.reference import naive_taker_orders
from tests.analytics.strategies import BTC, ETH, as_frame, splits, tapes
from tests.samples import sample

APPROX_CSV = "DERIVED_APPROX_BTCUSDT-aggTrades-2024-08-08_2354-0000UTC_from_ws_trade.csv"
REAL_6_ROWS = "BTCUSDT-aggTrades-2025-10-22_first6rows_data.binance.vision.csv"


def daily_klines(first_day: int, volumes: list[float]) -> pd.DataFrame:
    """REST 1d kline rows (as Binance sends them: strings for decimals) through parse_klines."""
    rows = []
    for i, vol in enumerate(volumes):
        open_time = (first_day + i) * DAY_MS
        rows.append([open_time, "1", "2", "0.5", "1.5", "10", open_time + DAY_MS - 1, str(vol),
                     7, "4", "40", "0"])  # fmt: skip
    return parse_klines(rows)


def test_adv_averages_the_complete_days_of_the_window():
    volumes = [float(v) for v in range(100, 140)]  # 40 days, the last one still open
    klines = daily_klines(20_000, volumes)
    now = (20_000 + 39) * DAY_MS + 5 * 3_600_000  # 05:00 on the last day
    complete = volumes[:-1]
    assert average_daily_volume(klines, now, days=30) == pytest.approx(sum(complete[-30:]) / 30)
    assert average_daily_volume(klines, now, days=7) == pytest.approx(sum(complete[-7:]) / 7)
    # A contract listed 3 days ago averages over what it has.
    assert average_daily_volume(klines.tail(4), now) == pytest.approx(sum(complete[-3:]) / 3)
    # Right after midnight the previous day is complete and the window moves.
    midnight = (20_000 + 40) * DAY_MS
    assert average_daily_volume(klines, midnight, 30) == pytest.approx(sum(volumes[-30:]) / 30)
    assert np.isnan(average_daily_volume(klines.tail(1), now))
    assert next_refresh_ms(now) == midnight
    assert next_refresh_ms(midnight) == midnight + DAY_MS
    many = average_daily_volumes({"A": klines, "B": klines.tail(4)}, now, days=30)
    assert list(many.index) == ["A", "B"] and many["B"] == pytest.approx(sum(complete[-3:]) / 3)
    hourly = klines.assign(open_time=klines["open_time"] + 3_600_000)
    with pytest.raises(ValueError, match="1d klines"):
        average_daily_volume(hourly, now)


def test_adv_on_the_real_klines_payload_shape():
    # Real REST klines rows (1m) carry quote volume at index 7; check the parser mapping used.
    body = json.loads(sample("polyoxide_2026-10-07/rest_klines_1m_limit2.json").read_text())
    frame = parse_klines(body)
    assert frame["quote_volume"].tolist() == [float(row[7]) for row in body]


def _naive(records, registry):
    rows = [
        (int(r["sym"]), int(r["agg_id"]), int(r["time"]), int(r["price"]), int(r["qty"]),
         bool(r["buyer_maker"]), int(r["last_id"] - r["first_id"] + 1))
        for r in records
    ]  # fmt: skip
    return naive_taker_orders(rows)


def _check_against_naive(frame: pd.DataFrame, naive: list[dict], registry: SymbolRegistry):
    assert len(frame) == len(naive)
    naive = sorted(naive, key=lambda o: (registry.symbol(o["sym"]), o["first_agg"]))
    for row, ref in zip(frame.itertuples(), naive, strict=True):
        spec = registry.spec(ref["sym"])
        assert row.symbol == spec.symbol
        assert (row.time, row.first_agg_id, row.last_agg_id) == (
            ref["time"],
            ref["first_agg"],
            ref["last_agg"],
        )
        assert row.side == ("sell" if ref["sold"] else "buy")
        assert row.quantity == spec.steps_to_qty(ref["qty"])
        # Notional checked with Decimal arithmetic on the grid values.
        notional = Decimal(ref["quote"]) * Decimal(spec.tick_size) * Decimal(spec.step_size)
        assert row.notional == float(notional)
        assert row.first_price == spec.ticks_to_price(ref["first_price"])
        assert row.last_price == spec.ticks_to_price(ref["last_price"])
        assert (row.fills, row.trades) == (ref["fills"], ref["trades"])
        assert row.vwap == pytest.approx(float(notional) / row.quantity, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(tapes(sym=0), tapes(sym=1))
def test_taker_orders_equal_a_plain_loop(btc, eth):
    registry = SymbolRegistry([BTC, ETH])
    frame = pd.concat(
        [as_frame(btc, BTC).assign(symbol="BTCUSDT"), as_frame(eth, ETH).assign(symbol="ETHUSDT")]
    ).sample(frac=1.0, random_state=1)  # any row order
    orders = taker_orders(frame, specs=registry)
    _check_against_naive(orders, _naive(np.concatenate([btc, eth]), registry), registry)


@settings(max_examples=60, deadline=None)
@given(tapes(sym=0, max_trades=80), tapes(sym=1, max_trades=80), st.data())
def test_detector_equals_pure_function_for_any_batch_split(btc, eth, data):
    registry = SymbolRegistry([BTC, ETH])
    tape = np.concatenate([btc, eth])
    tape = tape[np.argsort(tape["time"], kind="stable")]
    adv = {"BTCUSDT": 2e6, "ETHUSDT": 1e5}
    detector = BigOrderDetector(registry, grace_ms=data.draw(st.integers(0, 5_000)))
    detector.set_adv(adv)
    emitted = []
    for batch in np.split(tape, data.draw(splits(len(tape)))):
        emitted.append(detector.update(batch))
        if len(batch):  # the engine flushes after each batch with its clock
            emitted.append(detector.flush(int(batch["time"].max())))
    emitted.append(detector.flush())
    assert detector.open_runs == 0
    got = orders_frame(np.concatenate(emitted), registry)
    got = got.sort_values(["symbol", "first_agg_id"], ignore_index=True)
    frame = pd.concat(
        [as_frame(btc, BTC).assign(symbol="BTCUSDT"), as_frame(eth, ETH).assign(symbol="ETHUSDT")]
    )
    expected = taker_orders(frame, specs=registry, adv=adv)
    pdt.assert_frame_equal(got, expected)
    # The history holds exactly the orders at or above the keep level (0.05 % of ADV).
    held = detector.big_since(0, threshold=detector.keep_fraction)
    keep = expected[expected["notional"] >= 0.0005 * expected["adv"]]
    assert sorted(held["first_agg_id"]) == sorted(keep["first_agg_id"])
    assert list(held["seq"]) == sorted(held["seq"])


def test_big_rule_with_and_without_adv():
    notional = np.array([100.0, 5_000.0, 20_000.0, 20_000.0, 60_000.0])
    adv = np.array([1e6, 1e6, 1e6, np.nan, 0.0])
    # 0.5 % of 1e6 = 5000: the second reaches it exactly.
    assert big_mask(notional, adv).tolist() == [False, True, True, False, False]
    # A floor both limits known-ADV rows and is the only rule for unknown ADV.
    assert big_mask(notional, adv, 0.005, 10_000.0).tolist() == [False, False, True, True, True]
    assert big_mask(notional, adv, 0.02, 0.0).tolist() == [False, False, True, False, False]


def test_real_data_binance_vision_rows_group_the_sweep():
    frame = read_agg_trades_csv(sample(REAL_6_ROWS))
    orders = taker_orders(frame, symbol="BTCUSDT", adv=1e9)
    # Rows 3-6 share T=1761091201326, are taker sells with consecutive ids: one order.
    assert orders["fills"].tolist() == [1, 1, 4]
    sweep = orders.iloc[2]
    assert sweep["side"] == "sell" and sweep["time"] == 1761091201326
    assert sweep["quantity"] == 1.345  # 1.328 + 0.004 + 0.002 + 0.011
    expected = (
        Decimal("108253.7") * Decimal("1.328") + Decimal("108253.6") * Decimal("0.004")
        + Decimal("108253.5") * Decimal("0.002") + Decimal("108253.1") * Decimal("0.011")
    )  # fmt: skip
    assert sweep["notional"] == float(expected)
    assert sweep["pct_adv"] == pytest.approx(float(expected) / 1e9 * 100)
    assert (sweep["first_price"], sweep["last_price"]) == (108253.7, 108253.1)
    assert sweep["trades"] == (6764565362 - 6764565331 + 1)


def test_real_btcusdt_trades_detector_and_screener_history():
    frame = read_agg_trades_csv(sample(APPROX_CSV))
    registry = SymbolRegistry([ETH, BTC])
    records = trades_from_frame(frame, BTC, sym=1)
    adv = 2e9
    detector = BigOrderDetector(registry, threshold=0.001, history_size=10_000)
    detector.set_adv({"BTCUSDT": adv})
    for batch in np.array_split(records, 41):
        detector.update(batch)
        detector.flush(int(batch["time"].max()))
    detector.flush()
    orders = taker_orders(frame, symbol="BTCUSDT", adv=adv)
    _check_against_naive(orders, _naive(trades_from_frame(frame, BTC), SymbolRegistry([BTC])),
                         SymbolRegistry([BTC]))  # fmt: skip
    for threshold in (0.001, 0.0008, 0.002):
        shown = detector.big_since(0, threshold=threshold)
        expected = big_orders(orders, threshold=threshold)
        assert sorted(shown["first_agg_id"]) == sorted(expected["first_agg_id"])
        assert len(shown) > 0
    # Streaming: only rows after the last sequence number seen.
    everything = detector.big_since(0)
    tail = detector.big_since(int(everything["seq"].iloc[-3]))
    assert tail["seq"].tolist() == everything["seq"].tolist()[-2:]
    # The threshold changes at run time; below the keep level it lowers that level.
    detector.threshold = 0.0001
    assert detector.keep_fraction == 0.0001
    with pytest.raises(ValueError, match="fraction of ADV"):
        detector.threshold = -1


def test_orders_without_adv_are_kept_by_notional_and_flagged_only_by_a_floor():
    frame = read_agg_trades_csv(sample(APPROX_CSV))
    registry = SymbolRegistry([BTC])
    detector = BigOrderDetector(registry, keep_notional_without_adv=1_000_000.0)
    detector.update(trades_from_frame(frame, BTC))
    detector.flush()
    assert detector.big_since(0).empty  # no ADV, no floor: nothing is big
    floor = detector.big_since(0, min_notional=2_000_000.0)
    orders = taker_orders(frame, symbol="BTCUSDT")
    assert sorted(floor["first_agg_id"]) == sorted(
        orders.loc[orders["notional"] >= 2_000_000.0, "first_agg_id"]
    )
    assert np.isnan(floor["pct_adv"]).all()
