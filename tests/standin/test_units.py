"""Truth file, fault syntax and injection, rate limits, replay parsing."""

from __future__ import annotations

import csv
import math
from decimal import Decimal

import numpy as np
import orjson
import pytest

from pipelines.binance.archive import trades_from_frame
from pipelines.binance.contracts import parse_exchange_info
from pipelines.binance.parsers import FrameParser
from pipelines.binance.registry import SymbolRegistry
from pipelines.standin.faults import ConnectionFaults, FaultSpec, malformed
from pipelines.standin.frames import Formats
from pipelines.standin.limits import MessageBucket, WeightLimiter
from pipelines.standin.market import Market
from pipelines.standin.replay import ReplaySchedule, load_replay, observed_grids
from pipelines.standin.truth import TRUTH_COLUMNS, TruthRecorder, read_truth
from tests.samples import jsonl_lines, sample

START = 1_791_382_980_000
ALL_TYPES = ("PERPETUAL", "TRADIFI_PERPETUAL", "CURRENT_QUARTER")


def _registry(market: Market) -> SymbolRegistry:
    info = orjson.loads(orjson.dumps(market.exchange_info(START)))
    return SymbolRegistry(parse_exchange_info(info, contract_types=ALL_TYPES))


def test_truth_file_round_trips_every_trade(tmp_path) -> None:
    market = Market(30, 2000.0, 1, start_ms=START)
    recorder = TruthRecorder(tmp_path / "truth.csv", market)
    steps = market.advance_to(START + 3000)
    for step in steps:
        recorder.record(step.trades)
    recorder.close()
    trades = np.concatenate([s.trades for s in steps])
    truth = read_truth(tmp_path / "truth.csv")
    assert tuple(truth.columns) == TRUTH_COLUMNS
    assert len(truth) == len(trades) == recorder.rows
    for symbol, rows in truth.groupby("symbol"):
        sym = market.index(symbol)
        spec = market.contracts[sym].spec
        mine = trades[trades["sym"] == sym]
        back = trades_from_frame(rows.rename(columns={"agg_trade_id": "agg_trade_id"}), spec, sym)
        np.testing.assert_array_equal(back["agg_id"], mine["agg_id"])
        np.testing.assert_array_equal(back["price"], mine["price"])
        np.testing.assert_array_equal(back["qty"], mine["qty"])
        np.testing.assert_array_equal(back["time"], mine["time"])
        np.testing.assert_array_equal(back["buyer_maker"], mine["buyer_maker"])
    assert "币安人生USDT" in set(truth["symbol"])


def test_fault_spec_syntax() -> None:
    spec = FaultSpec.parse(
        "drop=0.01, stall=0.005:30,malformed=0.001,duplicate=0.01,"
        "reorder=0.01,gap=0.002,rest429=0.05"
    )
    assert spec.drop == 0.01 and spec.stall == 0.005 and spec.stall_s == 30
    assert spec.rest429 == 0.05 and spec.gap == 0.002
    assert FaultSpec.parse(str(spec)) == spec
    assert FaultSpec.parse("stall=0.1").stall_s == math.inf
    assert FaultSpec.parse("") == FaultSpec()
    for bad, why in (
        ("explode=1", "unknown fault"),
        ("drop", "needs a value"),
        ("gap=2", "outside"),
        ("gap=x", "not a number"),
    ):
        with pytest.raises(ValueError, match=why):
            FaultSpec.parse(bad)


def test_every_malformed_kind_is_rejected_by_the_frame_parser() -> None:
    market = Market(10, 500.0, 1, start_ms=START)
    steps = market.advance_to(START + 2000)
    trades = np.concatenate([s.trades for s in steps])
    nq = np.concatenate([s.nq for s in steps])
    parser = FrameParser(_registry(market))
    formats = Formats(market)
    for combined in (True, False):
        good = formats.agg_trades(trades[:5], nq[:5], combined=combined)
        bad = [malformed(good[k], k) for k in range(5)]
        batch = parser.parse(bad)
        assert batch.rejected == 5 and len(batch.trades) == 0
        assert parser.parse(good).rejected == 0


def test_connection_faults_are_deterministic_and_counted() -> None:
    payloads = [orjson.dumps({"e": "aggTrade", "a": i}) for i in range(5000)]
    spec = FaultSpec.parse("duplicate=0.01,reorder=0.01,gap=0.01,malformed=0.01")
    one, two = ConnectionFaults(spec, 3, 1), ConnectionFaults(spec, 3, 1)
    out = one.apply(payloads)
    assert out == two.apply(payloads)
    counts = one.counts
    assert all(counts[k] > 10 for k in ("duplicate", "reorder", "gap", "malformed"))
    assert len(out) == 5000 - counts["gap"] + counts["duplicate"] + counts["malformed"]
    seen = {p for p in out if p in set(payloads)}
    assert len(seen) == 5000 - counts["gap"]
    assert ConnectionFaults(FaultSpec(), 3, 1).apply(payloads) is payloads


def test_weight_limiter_minute_window_429_then_418() -> None:
    limiter = WeightLimiter(100)
    minute = START  # on a minute boundary
    for i in range(5):
        verdict = limiter.charge("ip", 20, minute + i)
        assert verdict.status == 200 and verdict.used == 20 * (i + 1)
    over = limiter.charge("ip", 20, minute + 30_000)
    assert over.status == 429 and over.retry_after == 30 and over.used == 120
    ban = limiter.charge("ip", 1, minute + 31_000)
    assert ban.status == 418 and ban.retry_after == 120
    assert limiter.charge("ip", 1, minute + 70_000).status == 418  # still banned
    after = limiter.charge("ip", 1, minute + 31_000 + 120_000)
    assert after.status == 200 and after.used == 1  # a new minute, a new budget
    assert limiter.charge("other", 1, minute).status == 200
    forced = limiter.charge("x", 1, minute, force_429=True)
    assert forced.status == 429 and forced.retry_after == 1
    assert limiter.charge("x", 1, minute + 2000).status == 200  # waited out Retry-After


def test_message_bucket_allows_a_burst_of_15_then_10_per_second() -> None:
    bucket = MessageBucket(0)
    assert all(bucket.take(0) for _ in range(15))
    assert not bucket.take(0)
    assert bucket.take(100) and not bucket.take(100)  # 0.1 s refills one message
    steady = MessageBucket(0)
    assert all(steady.take(t) for t in range(0, 10_000, 100))  # 10/s forever
    fast = MessageBucket(0)
    assert not all(fast.take(t) for t in range(0, 10_000, 80))  # 12.5/s runs out


def test_replay_reads_the_three_capture_formats() -> None:
    cryptofeed = load_replay(sample("cryptofeed_BINANCE_FUTURES.ws.1.0.raw.txt"))
    raw_lines = sample("cryptofeed_BINANCE_FUTURES.ws.1.0.raw.txt").read_text().splitlines()
    assert len(cryptofeed) == len(raw_lines) - 1
    assert cryptofeed[0].combined == raw_lines[1].split(": ", 1)[1].encode()
    hft = load_replay(sample("hftbacktest_usdm_btcusdt_20240808.gz"))
    assert {f.stream for f in hft} == {
        "btcusdt@trade",
        "btcusdt@aggTrade",  # aggregated from the trades, see test_replay_aggregates_trades...
        "btcusdt@depth@0ms",
        # conflated from the real-time diffs, see test_book.py test_a_realtime_capture...
        "btcusdt@depth@100ms",
        "btcusdt@depth",
        "btcusdt@depth@500ms",
        "btcusdt@bookTicker",
    }
    raw = load_replay(sample("forceOrder_real_frames.jsonl"))
    assert [f.stream for f in raw] == ["btcusdt@forceOrder"] + ["!forceOrder@arr"] * 3
    lines = jsonl_lines("forceOrder_real_frames.jsonl")
    assert raw[2].raw == lines[2].encode()
    grids = observed_grids(cryptofeed)
    assert grids["SUSHIUSDT"][1:] == (4, 0) and grids["AKROUSDT"][1:] == (5, 0)
    assert observed_grids(hft)["BTCUSDT"][1:] == (2, 3)


def test_replay_schedule_keeps_pace_and_caps_long_pauses() -> None:
    frames = load_replay(sample("forceOrder_real_frames.jsonl"))  # years apart
    schedule = ReplaySchedule(frames, 0, speed=1.0)
    assert len(schedule.due(0)) == 1
    assert len(schedule.due(20_000)) == 3 and schedule.done
    fast = ReplaySchedule(load_replay(sample("cryptofeed_2021-07-22_aggTrade.jsonl")), 0, 10.0)
    assert 0 < len(fast.due(1000)) < 91
    fast.due(10_000)
    assert fast.done


def test_replay_aggregates_trades_like_binance_aggregates_one_takers_fills() -> None:
    frames = load_replay(sample("hftbacktest_usdm_btcusdt_20240808.gz"))
    aggs = [orjson.loads(f.raw) for f in frames if f.stream == "btcusdt@aggTrade"]
    # Independent reference: the same trades merged by SOURCES.md's rule (same T, price, side).
    with sample(
        "DERIVED_APPROX_BTCUSDT-aggTrades-2024-08-08_2354-0000UTC_from_ws_trade.csv"
    ).open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(aggs) == len(rows) == 10_447
    for agg, row in zip(aggs, rows, strict=True):
        assert agg["a"] == int(row["agg_trade_id"])
        assert Decimal(agg["p"]) == Decimal(row["price"])
        assert Decimal(agg["q"]) == Decimal(row["quantity"])
        assert (agg["f"], agg["l"]) == (int(row["first_trade_id"]), int(row["last_trade_id"]))
        assert agg["T"] == int(row["transact_time"])
        assert agg["m"] == (row["is_buyer_maker"] == "true")
    # Each aggregate follows its last trade and precedes the next trade.
    last_trade = {}
    for i, frame in enumerate(frames):
        if frame.stream == "btcusdt@trade":
            last_trade[orjson.loads(frame.raw)["t"]] = i
        elif frame.stream == "btcusdt@aggTrade":
            data = orjson.loads(frame.raw)
            assert last_trade[data["l"]] < i
            assert data["l"] + 1 not in last_trade
