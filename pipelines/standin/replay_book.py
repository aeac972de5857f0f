"""The book of a replayed capture at the replay position: its REST depth snapshot plus the diff
events replayed so far, applied with Binance's procedure (drop events with u < lastUpdateId;
the first applied one has U <= lastUpdateId <= u; quantities are absolute, "0" removes).

Prices and quantities stay the capture's own text (keyed by their Decimal value), so REST depth
during a replay answers exactly what a client rebuilding the book from the capture would hold.
Before the first applicable event is replayed, REST depth answers the snapshot itself: a client
syncing then drops the events before it and starts at the one that contains its lastUpdateId.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from pipelines.standin.replay import ReplayFrame


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """A REST `/fapi/v1/depth` answer recorded in a capture, and the symbol it belongs to."""

    symbol: str
    body: dict  # lastUpdateId, E, T, bids, asks


@dataclass(slots=True)
class _SideBook:
    levels: dict[Decimal, tuple[str, str]] = field(default_factory=dict)  # price -> (p, q) text

    def apply(self, rows: list[list[str]]) -> None:
        for price, qty in rows:
            key = Decimal(price)
            if Decimal(qty) == 0:
                self.levels.pop(key, None)  # removing a level one does not hold is normal
            else:
                self.levels[key] = (price, qty)

    def best(self, limit: int, *, descending: bool) -> list[list[str]]:
        keys = sorted(self.levels, reverse=descending)[:limit]
        return [list(self.levels[k]) for k in keys]


class ReplayBook:
    """One symbol's book during a replay."""

    def __init__(self, snapshot: DepthSnapshot) -> None:
        body = snapshot.body
        self.symbol = snapshot.symbol
        self.snapshot_id = int(body["lastUpdateId"])
        self.last_update_id = self.snapshot_id
        self.time = int(body.get("T", body.get("E", 0)))
        self.bids, self.asks = _SideBook(), _SideBook()
        self.bids.apply(body["bids"])
        self.asks.apply(body["asks"])
        self.synced = False  # the first event with U <= lastUpdateId <= u was applied
        self.applied = 0
        self.gaps = 0  # events whose pu was not the previous u (0 in the public captures)

    def feed(self, event: dict) -> None:
        first, last, prev = int(event["U"]), int(event["u"]), int(event.get("pu", -1))
        if last < self.snapshot_id:
            return
        if not self.synced:
            if first > self.snapshot_id:  # the capture missed the bracketing event
                self.gaps += 1
            self.synced = True
        elif prev != self.last_update_id:
            self.gaps += 1
        self.bids.apply(event.get("b", []))
        self.asks.apply(event.get("a", []))
        self.last_update_id = last
        self.time = int(event.get("T", self.time))
        self.applied += 1

    def rest_body(self, limit: int, now_ms: int) -> dict:
        return {
            "lastUpdateId": self.last_update_id,
            "E": now_ms,
            "T": self.time,
            "bids": self.bids.best(limit, descending=True),
            "asks": self.asks.best(limit, descending=False),
        }


class ReplayBooks:
    """The books of every symbol whose capture holds a REST depth snapshot."""

    def __init__(self, snapshots: list[DepthSnapshot]) -> None:
        # The first snapshot of a symbol: later ones are its own re-syncs, not needed here.
        self.books: dict[str, ReplayBook] = {}
        for snapshot in snapshots:
            self.books.setdefault(snapshot.symbol, ReplayBook(snapshot))

    def feed(self, frames: list[ReplayFrame]) -> None:
        """Apply the diff events among the frames just released."""
        for frame in frames:
            data = frame.message
            if not isinstance(data, dict) or data.get("e") != "depthUpdate":
                continue
            if "@depth@" not in frame.stream and not frame.stream.endswith("@depth"):
                continue  # partial depth (`@depth20`) is not a diff
            if frame.derived:
                continue  # a conflated copy of events applied already
            book = self.books.get(data.get("s", ""))
            if book is not None:
                book.feed(data)

    def get(self, symbol: str) -> ReplayBook | None:
        return self.books.get(symbol)


def snapshot_symbol(body: dict, depth_ranges: dict[str, list[tuple[int, int]]]) -> str | None:
    """The symbol a recorded snapshot (which names none) belongs to: the one whose diff events
    bracket its lastUpdateId, else the only symbol with diff events."""
    last = int(body["lastUpdateId"])
    for symbol, ranges in depth_ranges.items():
        if any(first <= last <= final for first, final in ranges):
            return symbol
    return next(iter(depth_ranges)) if len(depth_ranges) == 1 else None


def depth_snapshots(frames: list[ReplayFrame], bodies: list[dict]) -> list[DepthSnapshot]:
    """The recorded snapshots with the symbol each belongs to (unmatched ones are dropped)."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    for frame in frames:
        data = frame.message
        if isinstance(data, dict) and data.get("e") == "depthUpdate" and "U" in data:
            ranges.setdefault(data["s"], []).append((int(data["U"]), int(data["u"])))
    out = []
    for body in bodies:
        symbol = snapshot_symbol(body, ranges)
        if symbol is not None:
            out.append(DepthSnapshot(symbol, body))
    return out
