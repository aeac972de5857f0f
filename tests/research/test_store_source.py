"""Research over the store: the exchange grid, and liquidations where recorded."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.profile import profile_from_records
from pipelines.records.batch import EngineBatch
from pipelines.records.dtypes import LIQUIDATION_DTYPE
from pipelines.research.dataset import file_metadata, partition_path, read_dataset
from pipelines.research.runner import client_for, run
from pipelines.research.sources import SourceError, StoreSource
from pipelines.storage.store import Store
from pipelines.storage.writer import StoreWriter
from tests.storage.synth import T0, batch, registry

DAY = dt.date(2025, 7, 31)  # T0's UTC day
DAY_START = 1_753_920_000_000

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")


def test_profiles_and_liquidations_from_the_store(tmp_path):
    db = tmp_path / "store.db"
    reg = registry()
    liq = np.zeros(3, dtype=LIQUIDATION_DTYPE)
    liq["sym"] = [0, 0, 1]
    liq["time"] = T0 + np.arange(3) * 1000
    liq["long_liquidated"] = [True, False, True]
    liq["price"] = [100_000.5, 99_990.0, 1000.25]
    liq["qty"] = [0.5, 0.25, 2.0]
    liq["notional"] = liq["price"] * liq["qty"]
    with StoreWriter(db, reg, clock=lambda: T0 + 60_000, commit_interval_s=0.01) as writer:
        for k in range(20):
            writer.submit(batch(k))
        writer.submit(EngineBatch(99, 0, liquidations=liq))
    assert DAY_START <= T0 < DAY_START + 86_400_000
    out = tmp_path / "out"
    with client_for(workers=1) as client:
        report = run(
            client, StoreSource(str(db)), ["profiles"], ["BTCUSDT", "ETHUSDT"], DAY, DAY, str(out)
        )
        assert report.errors == [] and report.trades == 2 * 20 * 50
        with pytest.raises(SourceError, match="unknown symbol NOPE"):
            run(client, StoreSource(str(db)), ["profiles"], ["NOPE"], DAY, DAY, str(out))
        # `all`: every stored contract.
        assert StoreSource(str(db)).symbols() == sorted(reg.symbols)
        every = tmp_path / "all"
        report = run(client, StoreSource(str(db)), ["signals"], "all", DAY, DAY, str(every))
        assert report.errors == [] and report.trades == len(reg.symbols) * 20 * 50
    for symbol in reg.symbols:  # on the exchange grid, a tick of 0.005 included
        meta = file_metadata(partition_path(every, "signals", symbol, DAY))
        assert meta["grid"] == "exchange"
        assert Decimal(meta["tick_size"]) == Decimal(reg.spec(symbol).tick_size)
    with Store(db) as store:
        for symbol in ("BTCUSDT", "ETHUSDT"):
            records, spec = store.load_trades(symbol, DAY_START, DAY_START + 86_400_000)
            expected = profile_from_records(records, spec).levels
            got = pd.read_parquet(partition_path(out, "profiles", symbol, DAY))
            np.testing.assert_array_equal(got["price_ticks"], expected["price"])
            np.testing.assert_array_equal(got["ask_steps"], expected["ask"])
            np.testing.assert_array_equal(got["price"], spec.ticks_to_price(expected["price"]))
    days = read_dataset(out, "days").compute()
    assert set(days["grid"]) == {"exchange"}
    assert days.set_index(days["symbol"].astype(str))["tick_size"].to_dict() == {
        "BTCUSDT": "0.1",
        "ETHUSDT": "0.01",
    }
    got = read_dataset(out, "liquidations").compute().sort_values("time")
    assert got["symbol"].astype(str).tolist() == ["BTCUSDT", "BTCUSDT", "ETHUSDT"]
    assert got["side"].tolist() == ["long", "short", "long"]
    np.testing.assert_array_equal(got["notional"], liq["notional"])
    with pytest.raises(SourceError, match="store"):
        StoreSource(str(tmp_path / "missing.db")).check_symbol("BTCUSDT")
