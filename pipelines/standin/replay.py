"""Replay of recorded captures: frames, their stream names and their original timing.

Accepted line formats (gzip or plain, detected per file):
* cryptofeed raw captures: `<epoch seconds>: <frame>` after a `<url> <-> <ts>` header line;
* hftbacktest collector output: `<epoch ns> <frame>`;
* JSONL: one frame per line, timed by its event time `E` (or `T`).
Combined frames keep their stream name and their exact bytes; raw frames (no envelope) get the
stream name Binance would give them. REST depth snapshots recorded in the capture are kept
apart (`load_capture`): `replay_book` serves the book at the replay position from them.

A capture of raw trades (`<s>@trade`) is also served as `<s>@aggTrade`, because that is what
clients consume: consecutive trades of a symbol with the same transact time, price and side
form one aggregate, as Binance aggregates the fills of one taker order. Aggregate ids count
from 1 per symbol. Every aggTrade frame, recorded or aggregated, also carries its values
(`ReplayFrame.agg`) so that REST aggTrades can answer from the capture.
"""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import orjson

from pipelines.binance.endpoints import ALL_FORCE_ORDERS, ALL_TICKERS, stream_symbol
from pipelines.records.dtypes import TRADE_DTYPE
from pipelines.standin.clock import Clock
from pipelines.standin.frames import envelope
from pipelines.standin.market import Market


@dataclass(frozen=True, slots=True)
class AggTrade:
    """An aggTrade's values as sent (prices and quantities as wire text)."""

    symbol: str
    agg_id: int
    first_id: int
    last_id: int
    time: int
    price: str
    qty: str
    buyer_maker: bool


@dataclass(frozen=True, slots=True)
class ReplayFrame:
    time_ms: float  # capture time (local receive time, or event time for JSONL)
    stream: str
    combined: bytes  # `{"stream":..,"data":..}`
    raw: bytes  # the `data` payload alone
    message: dict | list  # the parsed data, to derive contract grids
    agg: AggTrade | None = None  # set on aggTrade frames
    derived: bool = False  # made from other frames of the capture (a conflated diff stream)


def _lines(path: Path) -> Iterator[str]:
    with path.open("rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                yield line


def _split(line: str) -> tuple[float | None, str] | None:
    """(time ms or None, frame text), or None for header and REST lines."""
    if line.startswith(("{", "[")):
        return None, line
    head, sep, rest = line.partition(" ")
    if head.endswith(":"):  # cryptofeed `1626992741.06217: {...}`
        try:
            return float(head[:-1]) * 1000.0, rest
        except ValueError:
            return None
    if sep and head.isdigit() and rest.startswith(("{", "[")):  # hftbacktest `<ns> {...}`
        return int(head) / 1e6, rest
    return None


def stream_name(data: dict | list) -> str | None:
    """The stream a raw (un-enveloped) payload came from, as Binance names it."""
    if isinstance(data, list):
        return (
            ALL_TICKERS
            if data and isinstance(data[0], dict) and data[0].get("e") == "24hrTicker"
            else None
        )
    if not isinstance(data, dict):
        return None
    event = data.get("e")
    if event == "forceOrder":
        return ALL_FORCE_ORDERS
    symbol = data.get("s")
    if not isinstance(symbol, str):
        return None
    kinds = {
        "aggTrade": "aggTrade",
        "trade": "trade",
        "depthUpdate": "depth",
        "bookTicker": "bookTicker",
        "24hrTicker": "ticker",
        "24hrMiniTicker": "miniTicker",
        "markPriceUpdate": "markPrice",
    }
    if event == "kline":
        return f"{stream_symbol(symbol)}@kline_{data.get('k', {}).get('i', '1m')}"
    if event in kinds:
        return f"{stream_symbol(symbol)}@{kinds[event]}"
    if "u" in data and "b" in data and "a" in data and "e" not in data:  # old bookTicker
        return f"{stream_symbol(symbol)}@bookTicker"
    return None


def load_replay(path: str | Path) -> list[ReplayFrame]:
    """All replayable frames of a capture, in file order."""
    return load_capture(path)[0]


def load_capture(path: str | Path) -> tuple[list[ReplayFrame], list[dict]]:
    """A capture's replayable frames, in file order, and the bodies of the REST depth
    snapshots recorded in it (hftbacktest writes them as `<ns> {"lastUpdateId":..}` lines)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"replay file {path} does not exist")
    frames: list[ReplayFrame] = []
    snapshots: list[dict] = []
    last_time = 0.0
    for line in _lines(path):
        split = _split(line)
        if split is None:
            continue
        time_ms, text = split
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if isinstance(message, dict) and "lastUpdateId" in message and "bids" in message:
            snapshots.append(message)
            continue
        if isinstance(message, dict) and "stream" in message and "data" in message:
            stream, data = message["stream"], message["data"]
            combined, raw = text.encode(), orjson.dumps(data)
        else:
            stream, data = stream_name(message), message
            if stream is None:
                continue
            raw = text.encode()
            combined = envelope(stream, raw)
        if time_ms is None:
            event = data if isinstance(data, dict) else (data[0] if data else {})
            time_ms = float(event.get("E") or event.get("T") or last_time)
        last_time = time_ms
        frames.append(ReplayFrame(time_ms, stream, combined, raw, data, _agg_of(data)))
    if not frames:
        raise ValueError(f"{path} holds no replayable websocket frame")
    return with_conflated_depth(with_aggregates(frames)), snapshots


def _agg_of(data: object) -> AggTrade | None:
    if not isinstance(data, dict) or data.get("e") != "aggTrade":
        return None
    try:
        return AggTrade(
            data["s"],
            int(data["a"]),
            int(data["f"]),
            int(data["l"]),
            int(data["T"]),
            str(data["p"]),
            str(data["q"]),
            bool(data["m"]),
        )
    except (KeyError, TypeError, ValueError):  # a malformed recorded frame stays as it is
        return None


def _trade_key(data: dict) -> tuple | None:
    """(symbol, T, price, side) of a well-formed raw trade frame."""
    try:
        Decimal(data["p"]), Decimal(data["q"]), int(data["t"]), int(data["T"])
        return data["s"], data["T"], data["p"], bool(data["m"])
    except (KeyError, TypeError, ValueError, InvalidOperation):
        return None


def with_aggregates(frames: list[ReplayFrame]) -> list[ReplayFrame]:
    """The frames, plus an `<s>@aggTrade` frame after the last trade of each aggregate, for
    symbols whose capture has raw trades but no aggTrades."""
    has_agg = {f.agg.symbol for f in frames if f.agg is not None}
    out: list[ReplayFrame] = []
    open_: dict[str, tuple[tuple, list[dict], int]] = {}  # symbol -> (key, trades, position)
    next_id: dict[str, int] = {}
    pending: list[tuple[int, ReplayFrame]] = []  # (insert after this output index, frame)

    def close(symbol: str) -> None:
        _, trades, position = open_.pop(symbol)
        agg_id = next_id.get(symbol, 1)
        next_id[symbol] = agg_id + 1
        pending.append((position, _aggregate(trades, agg_id, out[position].time_ms)))

    for frame in frames:
        data = frame.message
        key = None
        if isinstance(data, dict) and data.get("e") == "trade" and data.get("s") not in has_agg:
            key = _trade_key(data)
        out.append(frame)
        if key is None:
            continue
        symbol = key[0]
        if symbol in open_ and open_[symbol][0] != key:
            close(symbol)
        if symbol in open_:
            open_[symbol][1].append(data)
            open_[symbol] = (key, open_[symbol][1], len(out) - 1)
        else:
            open_[symbol] = (key, [data], len(out) - 1)
    for symbol in list(open_):
        close(symbol)
    return insert_after(out, pending)  # each aggregate right after its last trade


def insert_after(frames: list[ReplayFrame], pending: list[tuple[int, ReplayFrame]]):
    """`frames` with each pending (index, frame) inserted right after frames[index]
    (in their order, for several at one index)."""
    if not pending:
        return frames
    pending = sorted(pending, key=lambda item: item[0])
    merged: list[ReplayFrame] = []
    it = iter(pending)
    nxt = next(it, None)
    for i, frame in enumerate(frames):
        merged.append(frame)
        while nxt is not None and nxt[0] == i:
            merged.append(nxt[1])
            nxt = next(it, None)
    return merged


CONFLATED_SPEEDS_MS = (100, 250, 500)  # the diff streams a real-time (@0ms) capture also feeds


def with_conflated_depth(frames: list[ReplayFrame]) -> list[ReplayFrame]:
    """The frames, plus `<s>@depth@100ms`, `<s>@depth` (250 ms) and `<s>@depth@500ms` events
    made from a capture's real-time `<s>@depth@0ms` ones, for symbols whose capture lacks them.

    Conflated as Binance does: one event per window of transaction time `T` that holds any
    change, with the first member's `U` and `pu`, the last one's `u`, `E` and `T`, and each
    changed level's last quantity (the capture's own text); the chain of `pu` stays whole (or
    broken where the capture's is). Windows divide a second, so the book at every second's end
    is the same at every speed. Each goes out right after its last member.
    """
    realtime = [
        i
        for i, f in enumerate(frames)
        if f.stream.endswith("@depth@0ms")
        and isinstance(f.message, dict)
        and f.message.get("e") == "depthUpdate"
    ]
    have = {f.stream for f in frames}
    pending: list[tuple[int, ReplayFrame]] = []
    for speed in CONFLATED_SPEEDS_MS:
        suffix = "" if speed == 250 else f"@{speed}ms"
        windows: dict[str, tuple[int, list[int]]] = {}  # stream -> (window, member indexes)
        closed: list[tuple[str, list[int]]] = []
        for i in realtime:
            stream = frames[i].stream.removesuffix("@depth@0ms") + "@depth" + suffix
            if stream in have:
                continue
            key = int(frames[i].message["T"]) // speed
            if stream in windows and windows[stream][0] != key:
                closed.append((stream, windows.pop(stream)[1]))
            windows.setdefault(stream, (key, []))[1].append(i)
        closed += [(stream, members) for stream, (_, members) in windows.items()]
        pending += [(m[-1], _conflated(frames, m, stream)) for stream, m in closed]
    return insert_after(frames, pending)


def _conflated(frames: list[ReplayFrame], members: list[int], stream: str) -> ReplayFrame:
    first, last = frames[members[0]].message, frames[members[-1]].message
    sides: dict[str, dict[Decimal, list[str]]] = {"b": {}, "a": {}}
    for i in members:
        for key, levels in sides.items():
            for price, qty in frames[i].message.get(key, []):
                levels[Decimal(price)] = [price, qty]
    data = {"e": "depthUpdate", "E": last["E"], "T": last["T"], "s": last["s"],
            "U": first["U"], "u": last["u"], "pu": first["pu"],
            "b": [sides["b"][p] for p in sorted(sides["b"])],
            "a": [sides["a"][p] for p in sorted(sides["a"])]}  # fmt: skip
    raw = orjson.dumps(data)
    time_ms = frames[members[-1]].time_ms
    return ReplayFrame(time_ms, stream, envelope(stream, raw), raw, data, derived=True)


def _aggregate(trades: list[dict], agg_id: int, time_ms: float) -> ReplayFrame:
    first, last = trades[0], trades[-1]
    decimals = max(len(str(t["q"]).partition(".")[2]) for t in trades)
    qty = f"{sum(Decimal(t['q']) for t in trades):.{decimals}f}"
    agg = AggTrade(
        first["s"],
        agg_id,
        int(first["t"]),
        int(last["t"]),
        int(first["T"]),
        first["p"],
        qty,
        bool(first["m"]),
    )
    data = {
        "e": "aggTrade",
        "E": last.get("E", last["T"]),
        "a": agg_id,
        "s": agg.symbol,
        "p": agg.price,
        "q": qty,
        "f": agg.first_id,
        "l": agg.last_id,
        "T": agg.time,
        "m": agg.buyer_maker,
    }
    raw = orjson.dumps(data)
    stream = f"{stream_symbol(agg.symbol)}@aggTrade"
    return ReplayFrame(time_ms, stream, envelope(stream, raw), raw, data, agg)


def _is_number(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def _decimals(text: str) -> int:
    return len(text.partition(".")[2]) if "." in text else 0


_PRICE_KEYS = {
    "aggTrade": ("p",),
    "trade": ("p",),
    "forceOrder": ("p", "ap"),
    "bookTicker": ("b", "a"),
    "kline": ("o", "h", "l", "c"),
    "24hrTicker": ("c", "o", "h", "l"),
    "24hrMiniTicker": ("c", "o", "h", "l"),
}
_QTY_KEYS = {
    "aggTrade": ("q",),
    "trade": ("q",),
    "forceOrder": ("q", "z"),
    "bookTicker": ("B", "A"),
    "kline": ("v",),
    "24hrTicker": ("v",),
    "24hrMiniTicker": ("v",),
}


def observed_grids(frames: list[ReplayFrame]) -> dict[str, tuple[float, int, int]]:
    """Per symbol: last price, price decimals and quantity decimals seen in the capture."""
    seen: dict[str, list] = {}
    for frame in frames:
        rows = frame.message if isinstance(frame.message, list) else [frame.message]
        for row in rows:
            if not isinstance(row, dict):
                continue
            event = row.get("e")
            row = row.get("o", {}) if event == "forceOrder" else row
            row = row.get("k", {}) if event == "kline" else row
            symbol = row.get("s")
            if not isinstance(symbol, str) or row.get("st", 1) != 1:  # COIN-M: no USD-M grid
                continue
            prices = [row[k] for k in _PRICE_KEYS.get(event, ()) if _is_number(row.get(k))]
            qtys = [row[k] for k in _QTY_KEYS.get(event, ()) if _is_number(row.get(k))]
            if event == "depthUpdate":
                levels = [lvl for side in ("b", "a") for lvl in row.get(side, ())]
                prices += [lvl[0] for lvl in levels if float(lvl[1]) > 0]
                qtys += [lvl[1] for lvl in levels]
            entry = seen.setdefault(symbol, [0.0, 0, 0])
            for p in prices:
                entry[1] = max(entry[1], _decimals(p))
                entry[0] = float(p) or entry[0]
            for q in qtys:
                entry[2] = max(entry[2], _decimals(q))
    return {s: (v[0], v[1], v[2]) for s, v in seen.items() if v[0] > 0}


MAX_GAP_MS = 5_000.0


class ReplaySchedule:
    """Releases frames at their original pace (times `speed`) from a start time.

    Pauses longer than MAX_GAP_MS are shortened to it: a JSONL of frames picked over years
    (timed by their event times) replays in seconds, not years. With `start_ms=None` the
    schedule waits for `start` (a held replay starts with its first subscriber).
    """

    def __init__(self, frames: list[ReplayFrame], start_ms: int | None, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"replay speed must be positive, got {speed}")
        self.frames = frames
        self.start_ms = start_ms
        self.speed = speed
        self.origin_ms = int(frames[0].time_ms)
        self._times = [0.0]
        for prev, frame in itertools.pairwise(frames):
            gap = min(max(frame.time_ms - prev.time_ms, 0.0), MAX_GAP_MS)
            self._times.append(self._times[-1] + gap)
        self._next = 0

    @property
    def done(self) -> bool:
        return self._next >= len(self.frames)

    @property
    def released(self) -> int:
        return self._next

    def start(self, now_ms: int) -> None:
        if self.start_ms is None:
            self.start_ms = now_ms

    def capture_time(self, now_ms: int) -> int:
        """The capture's clock now: its first frame's time plus the (shortened) time played."""
        if self.start_ms is None:
            return self.origin_ms
        return self.origin_ms + int((now_ms - self.start_ms) * self.speed)

    def due(self, now_ms: int) -> list[ReplayFrame]:
        if self.start_ms is None:
            return []
        horizon = (now_ms - self.start_ms) * self.speed
        start = self._next
        while self._next < len(self.frames) and self._times[self._next] <= horizon:
            self._next += 1
        return self.frames[start : self._next]


class ReplayClock:
    """Server time during a replay (REST time, exchangeInfo, windows): the capture's clock,
    frozen until the replay starts, so event times and server time stay comparable."""

    def __init__(self, schedule: ReplaySchedule, inner: Clock) -> None:
        self.schedule = schedule
        self.inner = inner

    def now_ms(self) -> int:
        return self.schedule.capture_time(self.inner.now_ms())


def record_replayed(market: Market, frames: list[ReplayFrame]) -> None:
    """Keep the aggTrades of the frames just released, so REST aggTrades and klines answer
    from the capture (what was replayed so far, nothing ahead of it)."""
    aggs = [f.agg for f in frames if f.agg is not None]
    syms = [market.index(a.symbol) for a in aggs]
    aggs = [a for a, s in zip(aggs, syms, strict=True) if s is not None]
    if not aggs:
        return
    sym = np.array([s for s in syms if s is not None])
    trades = np.zeros(len(aggs), dtype=TRADE_DTYPE)
    trades["sym"] = sym
    trades["agg_id"] = [a.agg_id for a in aggs]
    trades["first_id"] = [a.first_id for a in aggs]
    trades["last_id"] = [a.last_id for a in aggs]
    trades["time"] = [a.time for a in aggs]
    trades["buyer_maker"] = [a.buyer_maker for a in aggs]
    prices = np.array([float(a.price) for a in aggs])
    qtys = np.array([float(a.qty) for a in aggs])
    for s in np.unique(sym).tolist():
        mine = sym == s
        spec = market.contracts[s].spec
        trades["price"][mine] = spec.price_to_ticks(prices[mine])
        trades["qty"][mine] = spec.qty_to_steps(qtys[mine])
    order = np.lexsort((trades["agg_id"], trades["sym"]))
    trades = trades[order]
    market.history.append(trades, trades["qty"].copy())
    market.minutes.update(trades, (prices * qtys)[order])
