"""Research datasets in the views' shapes equal the analytics on the concatenated trades."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.imbalance import heatmap_image
from pipelines.analytics.footprint import build_footprint, footprint_from_profile
from pipelines.analytics.imbalance import imbalance_heatmap
from pipelines.research.dataset import read_dataset
from pipelines.research.views import heatmap_frame, heatmap_raster, load_profile, profile_raster
from tests.research.scenario import DAY_MS, DAYS, END, START

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")


def _trades(frames: dict, symbol: str | None = None) -> pd.DataFrame:
    parts = [
        f.assign(symbol=s)
        for (s, d), f in sorted(frames.items())
        if START <= d <= END and (symbol is None or s == symbol)
    ]
    return pd.concat(parts, ignore_index=True)


def _ms(day) -> int:
    return (day - DAYS[0]).days * DAY_MS + 1_709_251_200_000  # 2024-03-01 00:00 UTC


def test_the_heatmap_frame_of_a_dataset_equals_imbalance_heatmap_over_the_trades(archive, outputs):
    _, frames = archive
    start, end = _ms(START), _ms(END) + DAY_MS
    minutes = (end - start) // 60_000
    expected = imbalance_heatmap(_trades(frames), end - 1, minutes=minutes - 1)
    got = heatmap_frame(read_dataset(outputs[2], "imbalance"), start, end)
    pd.testing.assert_frame_equal(got, expected, check_names=False, check_index_type=False)
    image, names = heatmap_image(got)  # what the dashboard's heatmap draws
    assert names == ["ADAUSDT", "BTCUSDT", "ETHUSDT"]
    assert image.dimension_values("imbalance", flat=False).shape == (3, minutes)


def test_datashader_on_the_dask_dataset_equals_datashader_on_pandas(outputs):
    ddf = read_dataset(outputs[1], "imbalance")
    lazy = heatmap_raster(ddf, width=300, height=3)
    eager = heatmap_raster(ddf.compute(), width=300, height=3)
    np.testing.assert_array_equal(lazy.values, eager.values)
    assert np.isfinite(lazy.values).sum() > 100
    profiles = read_dataset(outputs[1], "profiles")
    volume = profile_raster(profiles, "BTCUSDT", width=200, height=100)
    btc = profiles.compute()
    btc = btc[btc["symbol"] == "BTCUSDT"]
    assert np.nansum(volume.values) == pytest.approx((btc["bid"] + btc["ask"]).sum(), rel=1e-12)


@pytest.mark.parametrize(("bin_ticks", "timeframe"), [(1, "1m"), (10, "15m"), (50, "1h")])
def test_a_footprint_over_days_from_the_dataset_equals_build_footprint(
    archive, outputs, bin_ticks, timeframe
):
    _, frames = archive
    for symbol in ("BTCUSDT", "ETHUSDT"):  # ETHUSDT has a day without a file
        profile = load_profile(outputs[1], symbol, START, END)
        got = footprint_from_profile(profile, bin_ticks, timeframe)
        trades = _trades(frames, symbol).drop(columns="symbol")
        expected = build_footprint(trades, tick_size=profile.spec.tick_size, price_bin_ticks=bin_ticks,
                                   timeframe=timeframe)  # fmt: skip
        pd.testing.assert_frame_equal(got.levels, expected.levels)
        pd.testing.assert_frame_equal(got.bars, expected.bars)
