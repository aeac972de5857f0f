"""Naked POCs, unfinished auctions and the volume profile against plain loops over the trades."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.analytics.footprint import FootprintRules, footprint_from_records
from pipelines.analytics.footprint_studies import naked_pocs, unfinished_auctions, volume_profile
from pipelines.records.dtypes import TRADE_DTYPE
from tests.analytics.strategies import BTC, tapes


def by_bar(records: np.ndarray, tf: int, bin_ticks: int) -> dict[int, dict[int, list[int]]]:
    """bar open -> level -> [taker sell steps, taker buy steps], trade by trade."""
    out: dict[int, dict[int, list[int]]] = {}
    for t in records.tolist():
        time, price, qty, seller = t[4], t[5], t[6], t[7]
        cell = out.setdefault(time // tf * tf, {}).setdefault(price // bin_ticks, [0, 0])
        cell[0 if seller else 1] += qty
    return out


@settings(max_examples=60, deadline=None)
@given(tapes(max_trades=150), st.sampled_from([1, 2, 5]), st.sampled_from(["1m", "3m"]))
def test_studies_equal_naive_loops(records, bin_ticks, timeframe) -> None:
    rules = FootprintRules.make(BTC, price_bin_ticks=bin_ticks, timeframe=timeframe)
    fp = footprint_from_records(records, BTC, rules)
    level_size = bin_ticks * 0.1
    cells = by_bar(records, rules.tf_ms, bin_ticks)
    opens = sorted(cells)
    # POC per bar: most volume, ties to the lower level (the footprint's rule).
    pocs = [min(cells[b], key=lambda lv: (-sum(cells[b][lv]), lv)) for b in opens]
    pocs_frame = naked_pocs(fp.bars, level_size)
    for i in range(len(opens)):
        later = [
            j for j in range(i + 1, len(opens))
            if min(cells[opens[j]]) <= pocs[i] <= max(cells[opens[j]])  # traded through it
        ]  # fmt: skip
        got = pocs_frame["revisited_at"].iloc[i]
        if later:
            assert got == opens[later[0]]
        else:
            assert math.isnan(got)
    auctions = unfinished_auctions(fp.levels).set_index("bar_time")
    for b in opens:
        top, bottom = max(cells[b]), min(cells[b])
        assert auctions.loc[b, "unfinished_high"] == (min(cells[b][top]) > 0)
        assert auctions.loc[b, "unfinished_low"] == (min(cells[b][bottom]) > 0)
    profile = volume_profile(fp.levels).set_index("price")
    totals: dict[int, list[int]] = {}
    for levels in cells.values():
        for lv, (sell, buy) in levels.items():
            acc = totals.setdefault(lv, [0, 0])
            acc[0] += sell
            acc[1] += buy
    assert len(profile) == len(totals)
    for lv, (sell, buy) in totals.items():
        row = profile.loc[BTC.ticks_to_price(lv * bin_ticks)]
        assert abs(row["bid_volume"] - sell * 0.001) < 1e-9
        assert abs(row["ask_volume"] - buy * 0.001) < 1e-9


def test_empty_footprints_give_empty_studies() -> None:
    empty = footprint_from_records(np.zeros(0, TRADE_DTYPE), BTC, FootprintRules.make(BTC))
    assert len(naked_pocs(empty.bars, 0.1)) == 0
    assert len(unfinished_auctions(empty.levels)) == 0
    assert len(volume_profile(empty.levels)) == 0
