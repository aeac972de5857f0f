"""Research outputs over a generated archive equal the single-process analytics, exactly."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.bigorders import big_orders, taker_orders
from pipelines.analytics.imbalance import imbalance_heatmap
from pipelines.analytics.profile import minute_profile
from pipelines.analytics.tradeframe import contract_spec
from pipelines.research.dataset import read_dataset
from pipelines.research.runner import client_for, run
from pipelines.research.sources import ArchiveSource
from tests.research.archive import CONTRACTS
from tests.research.killing import KillOnceSource
from tests.research.scenario import DAY_MS, DAYS, END, OUTPUTS, SKIP, START, SYMBOLS

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")


def _part(out: Path, kind: str, symbol: str, day: dt.date, sort: list[str]) -> pd.DataFrame:
    frame = read_dataset(out, kind).compute()
    keep = (frame["symbol"].astype(str) == symbol) & (frame["date"].astype(str) == day.isoformat())
    part = frame[keep].drop(columns=["symbol", "date"])
    return part.sort_values(sort, kind="stable").reset_index(drop=True)


def _units(values: pd.Series, decimals: int) -> np.ndarray:
    # The decimal text a float was read from is its shortest repr; scale it exactly.
    return np.array([int(Decimal(repr(float(v))).scaleb(decimals)) for v in values], np.int64)


def _naive_profile(frame: pd.DataFrame, pdec: int, qdec: int) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "minute": frame["transact_time"] // 60_000 * 60_000,
            "price_ticks": _units(frame["price"], pdec),
            "steps": _units(frame["quantity"], qdec),
            "sell": frame["is_buyer_maker"],
            "price": frame["price"],
        }
    )
    df["bid_steps"] = np.where(df["sell"], df["steps"], 0)
    df["ask_steps"] = np.where(df["sell"], 0, df["steps"])
    df["bid_trades"] = df["sell"].astype(np.int64)
    df["ask_trades"] = (~df["sell"]).astype(np.int64)
    g = df.groupby(["minute", "price_ticks"], sort=True)
    out = g[["bid_steps", "ask_steps", "bid_trades", "ask_trades"]].sum()
    out["price"] = g["price"].first()
    return out.reset_index()


def _day_notional(frame: pd.DataFrame) -> float:
    total = sum(
        Decimal(repr(p)) * Decimal(repr(q))
        for p, q in zip(frame["price"], frame["quantity"], strict=True)
    )
    return float(total)


@pytest.mark.parametrize("workers", [1, 2])
def test_profiles_equal_the_single_process_profile_and_a_naive_groupby(archive, outputs, workers):
    _, frames = archive
    for contract in CONTRACTS:
        for day in DAYS[1:]:
            if (contract.symbol, day) in SKIP:
                continue
            frame = frames[(contract.symbol, day)]
            got = _part(
                outputs[workers], "profiles", contract.symbol, day, ["minute", "price_ticks"]
            )
            spec = contract_spec(frame)
            assert (spec.price_decimals, spec.qty_decimals) == (
                contract.price_decimals,
                contract.qty_decimals,
            )
            naive = _naive_profile(frame, contract.price_decimals, contract.qty_decimals)
            for col in (
                "minute",
                "price_ticks",
                "bid_steps",
                "ask_steps",
                "bid_trades",
                "ask_trades",
            ):
                np.testing.assert_array_equal(
                    got[col].to_numpy(), naive[col].to_numpy(), err_msg=col
                )
            np.testing.assert_array_equal(got["price"].to_numpy(), naive["price"].to_numpy())
            np.testing.assert_array_equal(got["trades"], naive["bid_trades"] + naive["ask_trades"])
            scale = 10.0**contract.qty_decimals
            np.testing.assert_array_equal(got["bid"], naive["bid_steps"] / scale)
            np.testing.assert_array_equal(got["ask"], naive["ask_steps"] / scale)
            single = minute_profile(frame, tick_size=spec.tick_size).levels
            np.testing.assert_array_equal(got["price_ticks"], single["price"])
            np.testing.assert_array_equal(got["bid_steps"], single["bid"])


@pytest.mark.parametrize("workers", [1, 2])
def test_minute_imbalance_equals_the_heatmap_and_naive_sums(archive, outputs, workers):
    _, frames = archive
    for contract in CONTRACTS:
        for day in DAYS[1:]:
            if (contract.symbol, day) in SKIP:
                continue
            frame = frames[(contract.symbol, day)]
            got = _part(outputs[workers], "imbalance", contract.symbol, day, ["minute"])
            start = (day - dt.date(1970, 1, 1)).days * DAY_MS
            heat = imbalance_heatmap(
                frame, start + DAY_MS - 1, minutes=1439, symbol=contract.symbol
            )
            row = heat.loc[contract.symbol]
            assert row.index[0] == start and len(row) == 1440
            np.testing.assert_array_equal(
                got["imbalance"].to_numpy(), row.loc[got["minute"]].to_numpy()
            )
            assert row.drop(index=got["minute"]).isna().all()
            minute = frame["transact_time"] // 60_000 * 60_000
            sell = frame["is_buyer_maker"]
            notional = [
                Decimal(repr(p)) * Decimal(repr(q))
                for p, q in zip(frame["price"], frame["quantity"], strict=True)
            ]
            naive = pd.DataFrame({"minute": minute, "n": notional, "sell": sell})
            buy_q = naive[~sell].groupby("minute")["n"].sum().map(float)
            sell_q = naive[sell].groupby("minute")["n"].sum().map(float)
            np.testing.assert_array_equal(
                got["buy_quote"], buy_q.reindex(got["minute"], fill_value=0.0).to_numpy()
            )
            np.testing.assert_array_equal(
                got["sell_quote"], sell_q.reindex(got["minute"], fill_value=0.0).to_numpy()
            )
            counts = naive.groupby("minute")["sell"].agg(["sum", "count"])
            np.testing.assert_array_equal(got["sell_trades"], counts["sum"].to_numpy())
            np.testing.assert_array_equal(
                got["buy_trades"], (counts["count"] - counts["sum"]).to_numpy()
            )


def _expected_big(frames: dict, symbol: str, day: dt.date) -> tuple[pd.DataFrame, float, int]:
    prior = [
        _day_notional(f)
        for (s, d), f in frames.items()
        if s == symbol and day - dt.timedelta(days=30) <= d < day
    ]
    adv = math.fsum(prior) / len(prior) if prior else math.nan
    orders = taker_orders(frames[(symbol, day)], symbol=symbol)
    big = big_orders(orders, adv if prior else None, threshold=0.005)
    return big.drop(columns="symbol"), adv, len(prior)


@pytest.mark.parametrize("workers", [1, 2])
def test_big_orders_against_the_archive_adv_equal_bigflow(archive, outputs, workers):
    _, frames = archive
    seen = 0
    for contract in CONTRACTS:
        for day in DAYS[1:]:
            if (contract.symbol, day) in SKIP:
                continue
            expected, adv, used = _expected_big(frames, contract.symbol, day)
            got = _part(
                outputs[workers], "big-orders", contract.symbol, day, ["time", "first_agg_id"]
            )
            assert (got["adv_days"] == used).all()
            pd.testing.assert_frame_equal(got.drop(columns="adv_days"), expected, check_dtype=False)
            assert len(expected) == 0 or (expected["adv"] == adv).all()
            seen += len(expected)
    assert seen > 20  # the generated tape does hold big orders
    # ETHUSDT on DAYS[2]: its day before has no file, so the ADV is DAYS[0] alone.
    assert _expected_big(frames, "ETHUSDT", DAYS[2])[2] == 1


def test_one_and_two_workers_write_the_same_datasets(outputs):
    for kind in ("profiles", "minutes", "imbalance", "orders", "big-orders", "days"):
        one, two = (read_dataset(outputs[w], kind).compute() for w in (1, 2))
        keys = [
            c
            for c in ("symbol", "date", "minute", "price_ticks", "time", "first_agg_id")
            if c in one
        ]
        for f in (one, two):
            f["symbol"] = f["symbol"].astype(str)
            f["date"] = f["date"].astype(str)
        one, two = (f.sort_values(keys).reset_index(drop=True) for f in (one, two))
        pd.testing.assert_frame_equal(one, two)
    days = read_dataset(outputs[1], "days").compute()
    assert len(days) == len(SYMBOLS) * len(DAYS) - len(SKIP)  # DAYS[0] summarised for the ADV
    assert set(days["grid"]) == {"inferred"}


def test_a_killed_worker_task_is_recomputed_and_the_result_is_unchanged(archive, outputs, tmp_path):
    root, _ = archive
    marker = tmp_path / "killed"
    source = KillOnceSource(
        str(root), marker=str(marker), symbol="BTCUSDT", date=DAYS[2].isoformat()
    )
    out = tmp_path / "out"
    with client_for(workers=2) as client:
        report = run(client, source, OUTPUTS, SYMBOLS, START, END, str(out))
    assert marker.exists()  # a worker did die in that task
    assert report.errors == []
    for kind in ("profiles", "imbalance", "big-orders", "days"):
        got, ref = (read_dataset(o, kind).compute() for o in (out, outputs[2]))
        keys = [c for c in ("minute", "price_ticks", "time", "first_agg_id") if c in got]
        for f in (got, ref):
            f["symbol"] = f["symbol"].astype(str)
            f["date"] = f["date"].astype(str)
        got, ref = (
            f.sort_values(["symbol", "date", *keys]).reset_index(drop=True) for f in (got, ref)
        )
        pd.testing.assert_frame_equal(got, ref)


def test_a_rerun_computes_only_missing_partitions(archive, outputs, tmp_path):
    root, _ = archive
    out = outputs[1]
    victim = out / "profiles" / "symbol=ADAUSDT" / f"date={DAYS[3]}" / "part.parquet"
    before = victim.read_bytes()
    kept = out / "profiles" / "symbol=BTCUSDT" / f"date={DAYS[3]}" / "part.parquet"
    kept_mtime = kept.stat().st_mtime_ns
    victim.unlink()
    with client_for(workers=1) as client:
        report = run(client, ArchiveSource(str(root)), OUTPUTS, SYMBOLS, START, END, str(out))
    assert report.trades == 2_000  # the one ADAUSDT day, read again
    assert report.skipped == len(SYMBOLS) * 3 - len(SKIP) - 1
    assert victim.read_bytes() == before
    assert kept.stat().st_mtime_ns == kept_mtime
