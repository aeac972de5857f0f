"""A plain-Python, Decimal reconstruction of a USD-M order book from a snapshot and diffs.

Written independently of `pipelines.analytics.localbook` and the store: dicts of Decimal
prices, the futures sync rule spelled out, the book's state read at the end of every whole
second of transaction time `T` (after every event with `T` before the second's end).
"""

from __future__ import annotations

import json
from decimal import Decimal

TOP = 50


def capture_events(frames: list[str]) -> tuple[dict, list[dict]]:
    """(the REST snapshot, the BTCUSDT diff-depth events in arrival order) of the capture."""
    snapshot, diffs = None, []
    for frame in frames:
        message = json.loads(frame)
        if "lastUpdateId" in message:
            snapshot = message
        elif message.get("stream", "").endswith(("@depth@0ms", "@depth@100ms")):
            diffs.append(message["data"])
    assert snapshot is not None
    return snapshot, diffs


def reconstruct_seconds(snapshot: dict, diffs: list[dict], top: int = TOP) -> dict[int, tuple]:
    """{second end ms: (top bids high to low, top asks low to high)}, each a list of
    (Decimal price, Decimal qty), only prices inside the snapshot's lowest bid .. highest ask."""
    bids = {Decimal(p): Decimal(q) for p, q in snapshot["bids"] if Decimal(q) != 0}
    asks = {Decimal(p): Decimal(q) for p, q in snapshot["asks"] if Decimal(q) != 0}
    low, high = min(bids), max(asks)
    last_id = snapshot["lastUpdateId"]
    previous_u = None
    second = None
    out: dict[int, tuple] = {}

    def state() -> tuple:
        inside_bids = sorted((p for p in bids if low <= p <= high), reverse=True)[:top]
        inside_asks = sorted(p for p in asks if low <= p <= high)[:top]
        return [(p, bids[p]) for p in inside_bids], [(p, asks[p]) for p in inside_asks]

    for event in diffs:
        if previous_u is None:
            if event["u"] < last_id:
                continue
            assert event["U"] <= last_id <= event["u"], "no event spans the snapshot"
        else:
            assert event["pu"] == previous_u, "a gap in the capture"
        this_second = event["T"] // 1000
        if second is not None and this_second > second:
            now = state()
            for closed in range(second, this_second):
                out[(closed + 1) * 1000] = now
        second = this_second if second is None else max(second, this_second)
        for side, key in ((bids, "b"), (asks, "a")):
            for price, qty in event[key]:
                if Decimal(qty) == 0:
                    side.pop(Decimal(price), None)
                else:
                    side[Decimal(price)] = Decimal(qty)
        if bids and asks:
            assert max(bids) < min(asks), "the capture's book crossed"
        previous_u = event["u"]
    return out
