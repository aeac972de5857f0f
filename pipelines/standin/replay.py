"""Replay of recorded captures: frames, their stream names and their original timing.

Accepted line formats (gzip or plain, detected per file):
* cryptofeed raw captures: `<epoch seconds>: <frame>` after a `<url> <-> <ts>` header line;
* hftbacktest collector output: `<epoch ns> <frame>`;
* JSONL: one frame per line, timed by its event time `E` (or `T`).
Combined frames keep their stream name and their exact bytes; raw frames (no envelope) get the
stream name Binance would give them. REST lines (depth snapshots) are skipped.
"""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from pipelines.binance.endpoints import ALL_FORCE_ORDERS, ALL_TICKERS, stream_symbol
from pipelines.standin.frames import envelope


@dataclass(frozen=True, slots=True)
class ReplayFrame:
    time_ms: float  # capture time (local receive time, or event time for JSONL)
    stream: str
    combined: bytes  # `{"stream":..,"data":..}`
    raw: bytes  # the `data` payload alone
    message: dict | list  # the parsed data, to derive contract grids


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
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"replay file {path} does not exist")
    frames: list[ReplayFrame] = []
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
        frames.append(ReplayFrame(time_ms, stream, combined, raw, data))
    if not frames:
        raise ValueError(f"{path} holds no replayable websocket frame")
    return frames


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
    (timed by their event times) replays in seconds, not years.
    """

    def __init__(self, frames: list[ReplayFrame], start_ms: int, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"replay speed must be positive, got {speed}")
        self.frames = frames
        self.start_ms = start_ms
        self.speed = speed
        self._times = [0.0]
        for prev, frame in itertools.pairwise(frames):
            gap = min(max(frame.time_ms - prev.time_ms, 0.0), MAX_GAP_MS)
            self._times.append(self._times[-1] + gap)
        self._next = 0

    @property
    def done(self) -> bool:
        return self._next >= len(self.frames)

    def due(self, now_ms: int) -> list[ReplayFrame]:
        horizon = (now_ms - self.start_ms) * self.speed
        start = self._next
        while self._next < len(self.frames) and self._times[self._next] <= horizon:
            self._next += 1
        return self.frames[start : self._next]
