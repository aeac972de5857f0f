"""The stand-in's true book: trades consume it, it is never crossed, and a client following
Binance's documented sync procedure (buffer the diff stream, take a REST snapshot, drop events
with u < lastUpdateId, start at U <= lastUpdateId <= u, then require pu == previous u) holds
exactly the stand-in's ground truth at every speed, also through dropped events and resyncs.
The client here is plain Python over Decimal wire text, independent of the stand-in's code.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
from decimal import Decimal

import aiohttp
import numpy as np
import orjson
import pytest

from pipelines.standin.clock import ManualClock
from pipelines.standin.market import Market
from pipelines.standin.replay import load_capture
from pipelines.standin.server import StandIn
from tests.analytics.book_reference import reconstruct_seconds
from tests.samples import SAMPLES
from tests.standin.test_streams import _get, _ws

START = 1_791_382_980_000


class SyncClient:
    """Binance's "How to manage a local order book correctly" (USD-M), nothing more."""

    def __init__(self) -> None:
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.last_u: int | None = None
        self.snapshot_id: int | None = None
        self.gaps = 0  # pu breaks seen (each forces a resync)

    def reset(self, snapshot: dict) -> None:
        self.bids = {Decimal(p): Decimal(q) for p, q in snapshot["bids"]}
        self.asks = {Decimal(p): Decimal(q) for p, q in snapshot["asks"]}
        self.snapshot_id = snapshot["lastUpdateId"]
        self.last_u = None

    def on_event(self, event: dict) -> bool:
        """Apply one event; False when the chain broke and a new snapshot is needed."""
        assert self.snapshot_id is not None
        if self.last_u is None:
            if event["u"] < self.snapshot_id:
                return True
            broken = event["U"] > self.snapshot_id  # the bracketing event never arrived
        else:
            broken = event["pu"] != self.last_u
        if broken:
            self.gaps += 1
            self.snapshot_id = None
            return False
        for side, book in (("b", self.bids), ("a", self.asks)):
            for price, qty in event[side]:
                if Decimal(qty) == 0:
                    book.pop(Decimal(price), None)
                else:
                    book[Decimal(price)] = Decimal(qty)
        self.last_u = event["u"]
        return True

    def same_as(self, truth: dict) -> bool:
        bids = {Decimal(p): Decimal(q) for p, q in truth["bids"]}
        asks = {Decimal(p): Decimal(q) for p, q in truth["asks"]}
        return bids == self.bids and asks == self.asks


async def _drain_text(ws) -> list[str]:
    """The text frames waiting on a websocket (stops after 0.2 s without one)."""
    out = []
    while True:
        try:
            msg = await ws.receive(timeout=0.2)
        except TimeoutError:
            return out
        if msg.type != aiohttp.WSMsgType.TEXT:
            return out
        out.append(msg.data)


async def _drain(ws) -> list[dict]:
    return [orjson.loads(text) for text in await _drain_text(ws)]


async def _follow(
    http, ex, clock, ws, client: SyncClient, seconds: float, slice_ms: int = 1000
) -> tuple[int, int, int]:
    """Run the procedure for `seconds`, comparing with the truth every `slice_ms`; returns
    (checkpoints compared, events applied, events received). Resyncs from a new snapshot on
    a pu break."""
    checkpoints = applied = received = 0
    for _ in range(int(seconds * 1000 / slice_ms)):
        await clock.advance(slice_ms)
        frames = await _drain(ws)
        received += len(frames)
        for frame in frames:
            if client.snapshot_id is None:
                continue  # waiting for the new snapshot: buffered events come after it
            if client.on_event(frame["data"]):
                applied += client.last_u is not None
        if client.snapshot_id is None:  # resync: a fresh snapshot, then the next events
            client.reset(await _get(http, ex, "/fapi/v1/depth", symbol="BTCUSDT", limit=1000))
            continue
        if client.last_u is not None:
            truth = ex.true_book("BTCUSDT", client.last_u)
            assert client.same_as(truth), f"book differs from the truth at u={client.last_u}"
            checkpoints += 1
    return checkpoints, applied, received


async def _subscribe_and_snapshot(http, ex, clock, stream: str):
    """Steps 1 and 2: open the stream (buffering), then take a snapshot."""
    await clock.advance(1000)
    ws = await _ws(http, ex, "/public", stream)
    await clock.advance(300)
    client = SyncClient()
    client.reset(await _get(http, ex, "/fapi/v1/depth", symbol="BTCUSDT", limit=1000))
    return ws, client


@pytest.mark.parametrize("speed", ["@0ms", "@100ms", "", "@500ms"])
async def test_a_client_following_binances_procedure_holds_the_true_book(speed: str) -> None:
    clock = ManualClock(START)
    # 20 contracts at 1,000 aggTrades/s: BTC alone trades about 150 a second.
    async with (
        StandIn(symbols=20, rate=1000.0, seed=5, clock=clock) as ex,
        aiohttp.ClientSession() as http,
    ):
        ws, client = await _subscribe_and_snapshot(http, ex, clock, f"btcusdt@depth{speed}")
        trades_before = int(ex.market.next_agg[0])
        checkpoints, applied, _ = await _follow(http, ex, clock, ws, client, 6)
        traded = int(ex.market.next_agg[0]) - trades_before
        assert checkpoints >= 5 and client.gaps == 0
        assert applied >= {"@0ms": 60, "@100ms": 40, "": 18, "@500ms": 9}[speed], applied
        assert traded >= 300, traded
        # The book the client holds is the REST book too (every level, both within the band).
        rest = await _get(http, ex, "/fapi/v1/depth", symbol="BTCUSDT", limit=1000)
        if rest["lastUpdateId"] - 1 == client.last_u:
            assert client.same_as(rest)
        await ws.close()


async def test_depthgap_breaks_the_pu_chain_at_the_configured_rate_and_a_resync_recovers() -> None:
    clock = ManualClock(START)
    async with (
        StandIn(symbols=20, rate=1000.0, seed=6, clock=clock, faults="depthgap=0.1") as ex,
        aiohttp.ClientSession() as http,
    ):
        ws, client = await _subscribe_and_snapshot(http, ex, clock, "btcusdt@depth@100ms")
        checkpoints, _, received = await _follow(http, ex, clock, ws, client, 30, 250)
        dropped = ex.stats()["frame_faults_open_connections"]["depthgap"]
        assert 0.06 <= dropped / (received + dropped) <= 0.14, (dropped, received)
        # Each drop breaks the chain the client holds (unless it was already resyncing).
        assert client.gaps >= 5 and client.gaps <= dropped
        assert checkpoints >= 5  # after every resync the book is the truth again
        await ws.close()


async def test_depthreorder_swaps_events_of_a_stream() -> None:
    clock = ManualClock(START)
    async with (
        StandIn(symbols=20, rate=1000.0, seed=6, clock=clock, faults="depthreorder=0.2") as ex,
        aiohttp.ClientSession() as http,
    ):
        ws = await _ws(http, ex, "/public", "btcusdt@depth@0ms")
        await clock.advance(5000)
        events = [f["data"] for f in await _drain(ws)]
        late = sum(b["u"] < a["u"] for a, b in itertools.pairwise(events))
        assert late >= 5
        # Nothing is lost: sorted by u, the events chain.
        ordered = sorted(events, key=lambda e: e["u"])
        assert all(b["pu"] == a["u"] for a, b in itertools.pairwise(ordered))
        await ws.close()


# ------------------------------------------------------------------ the book model itself


@pytest.fixture(scope="module")
def watched_minute():
    """One minute of a 60-contract market with the first 10 books materialised: the book of
    each before and after every step, and the step's trades."""
    market = Market(60, 600.0, 3, start_ms=START)
    syms = range(10)
    for s in syms:
        market.open_book(s)
    steps = []
    for k in range(1, 1201):
        before = {s: market.true_book(s) for s in syms}
        (step,) = market.advance_to(START + k * 50)
        after = {s: market.true_book(s) for s in syms}
        touch = {s: (int(market.bid[s]), int(market.bid[s] + market.spread[s])) for s in syms}
        steps.append((before, step.trades, after, touch))
    return market, steps


def test_trades_consume_the_book(watched_minute) -> None:
    _, steps = watched_minute
    reduced = swept = 0
    for before, trades, after, _ in steps:
        for s in before:
            rows = trades[trades["sym"] == s]
            # One taker order in the step: every row at the same time, one side.
            if len(rows) == 0 or len(set(rows["time"].tolist())) != 1:
                continue
            if len(set(rows["buyer_maker"].tolist())) != 1:
                continue
            buy = not rows["buyer_maker"][0]
            side_before = before[s].asks if buy else before[s].bids
            side_after = after[s].asks if buy else after[s].bids
            prices, qtys = rows["price"].tolist(), rows["qty"].tolist()
            if np.any(np.diff(prices) != (1 if buy else -1)):
                continue  # two orders in the same millisecond
            best = before[s].best_ask if buy else before[s].best_bid
            if prices[0] != best:
                continue  # the resting liquidity leaned first: the touch had moved
            # A sweep empties the levels it walks through: they are gone from that side.
            for p in prices[:-1]:
                assert p not in side_after, (s, p)
                swept += 1
            # The last level loses what the order took there.
            left = side_before.get(prices[-1], 0) - qtys[-1]
            if left > 0:
                assert side_after[prices[-1]] == left
                reduced += 1
    assert reduced >= 100 and swept >= 20, (reduced, swept)


def test_the_book_is_never_crossed_and_its_touch_is_the_traded_one(watched_minute) -> None:
    _, steps = watched_minute
    for _, _, after, touch in steps:
        for s, book in after.items():
            assert book.best_bid < book.best_ask
            assert (book.best_bid, book.best_ask) == touch[s]  # where the trades left the price
            assert all(p > 0 and q > 0 for p, q in book.bids.items())
            assert all(p > 0 and q > 0 for p, q in book.asks.items())


def test_the_book_has_walls_gaps_and_quotes_changing_away_from_the_touch(watched_minute) -> None:
    market, steps = watched_minute
    first, last = steps[0][0][0], steps[-1][2][0]  # BTC at the start and the end
    bid = last.best_bid
    near = np.array([last.bids.get(bid - j, 0) for j in range(1, 200)])
    profile = market.depth[0] * (1 + 0.05 * np.arange(1, 200))
    ratio = near[near > 0] / profile[near > 0]
    assert np.std(np.log(ratio)) > 0.4  # sizes vary, not a regular ladder
    assert (near == 0).sum() >= 2  # some levels hold nothing
    assert ratio.max() > 5  # a wall
    # Quotes changed far from any trade: levels 300+ ticks behind the touch differ.
    far = [p for p in first.bids if p < first.best_bid - 300 and p in last.bids]
    changed = sum(first.bids[p] != last.bids[p] for p in far)
    assert changed >= 30, changed


def test_the_book_as_of_an_update_id_is_the_book_then(watched_minute) -> None:
    market, steps = watched_minute
    for k in (1100, 1150, 1190):
        then = steps[k][2][0]
        assert market.true_book(0, then.update_id - 1) == then.__class__(
            then.bids, then.asks, then.update_id - 1
        )


# ------------------------------------------------------------------ replay


def _capture(path) -> tuple[dict, list[tuple[str, dict]]]:
    """The capture read independently: its REST snapshot and its depth frames (text, data)."""
    snapshot, frames = None, []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            _, _, text = line.strip().partition(" ")
            message = json.loads(text)
            if "lastUpdateId" in message:
                snapshot = snapshot or message
            elif message.get("stream", "").startswith("btcusdt@depth"):
                frames.append((text, message["data"]))
    assert snapshot is not None
    return snapshot, frames


def _rebuild(snapshot: dict, events: list[dict], until_u: int) -> tuple[dict, dict]:
    """Snapshot plus the diffs up to `until_u`, by the documented procedure, in Decimal."""
    bids = {Decimal(p): Decimal(q) for p, q in snapshot["bids"]}
    asks = {Decimal(p): Decimal(q) for p, q in snapshot["asks"]}
    last = snapshot["lastUpdateId"]
    prev = None
    for event in events:
        if event["u"] < last or event["u"] > until_u:
            continue
        if prev is None:
            assert event["U"] <= last <= event["u"]
        else:
            assert event["pu"] == prev
        prev = event["u"]
        for side, book in (("b", bids), ("a", asks)):
            for price, qty in event[side]:
                if Decimal(qty) == 0:
                    book.pop(Decimal(price), None)
                else:
                    book[Decimal(price)] = Decimal(qty)
    return bids, asks


async def test_replay_serves_the_captures_depth_and_its_book_at_the_replay_position() -> None:
    path = SAMPLES / "hftbacktest_usdm_btcusdt_20240808.gz"
    snapshot, captured = _capture(path)
    events = [data for _, data in captured]
    clock = ManualClock(START)
    async with (
        StandIn(replay=path, speed=10.0, clock=clock, hold=True) as ex,
        aiohttp.ClientSession() as http,
    ):
        ws = await _ws(http, ex, "/public", "btcusdt@depth@0ms")
        received: list[str] = []
        positions = []
        for _ in range(8):
            await clock.advance(2_000)
            received += await _drain_text(ws)
            book = await _get(http, ex, "/fapi/v1/depth", symbol="BTCUSDT", limit=1000)
            positions.append(book["lastUpdateId"])
            bids, asks = _rebuild(snapshot, events, book["lastUpdateId"])
            best_bids = sorted(bids.items(), reverse=True)[:1000]
            best_asks = sorted(asks.items())[:1000]
            assert [(Decimal(p), Decimal(q)) for p, q in book["bids"]] == best_bids
            assert [(Decimal(p), Decimal(q)) for p, q in book["asks"]] == best_asks
            assert best_bids[0][0] < best_asks[0][0]  # never crossed
            # The position is the last diff replayed (once past the snapshot).
            if received and orjson.loads(received[-1])["data"]["u"] >= snapshot["lastUpdateId"]:
                assert book["lastUpdateId"] == orjson.loads(received[-1])["data"]["u"]
        assert len(set(positions)) >= 6  # the book moved with the replay
        # The served diff events are the capture's, byte for byte and in order.
        assert len(received) >= 1000
        assert received == [text for text, _ in captured[: len(received)]]
        await ws.close()


@functools.cache
def _loaded_capture():
    return load_capture(SAMPLES / "hftbacktest_usdm_btcusdt_20240808.gz")


@pytest.mark.slow
@pytest.mark.parametrize("suffix", ["@100ms", "", "@500ms"])
def test_a_realtime_capture_also_feeds_the_conflated_diff_streams(suffix: str) -> None:
    """The capture has only `@depth@0ms`; the engine's books read `@depth@100ms`. A client of
    the conflated stream holds, at every second's end, the book a client of the real-time one
    holds (both rebuilt in Decimal by tests/analytics/book_reference.py)."""
    frames, bodies = _loaded_capture()
    realtime = [f.message for f in frames if f.stream == "btcusdt@depth@0ms"]
    conflated = [f for f in frames if f.stream == f"btcusdt@depth{suffix}"]
    assert all(f.derived for f in conflated) and not any(
        f.derived for f in frames if f.stream == "btcusdt@depth@0ms"
    )
    events = [f.message for f in conflated]
    assert len(realtime) // 20 < len(events) < len(realtime)
    # The chain is whole and covers the capture's ids; windows never straddle a second.
    assert events[0]["U"] == realtime[0]["U"] and events[-1]["u"] == realtime[-1]["u"]
    assert all(b["pu"] == a["u"] for a, b in itertools.pairwise(events))
    # Each goes out right after its last real-time member.
    last_u = None
    for frame in frames:
        if frame.stream == "btcusdt@depth@0ms":
            last_u = frame.message["u"]
        elif frame.stream == f"btcusdt@depth{suffix}":
            assert frame.message["u"] == last_u
    snapshot = bodies[0]
    expected = reconstruct_seconds(snapshot, realtime, top=1000)
    assert len(expected) > 300
    assert reconstruct_seconds(snapshot, events, top=1000) == expected
