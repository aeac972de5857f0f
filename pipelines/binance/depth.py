"""Diff-depth events and REST depth snapshots on a contract's integer grid.

A local order book (`pipelines.analytics.localbook`) is kept from these two: the wire's decimal
strings become integer ticks and steps here, once, with the contract's `ContractSpec` (the same
conversion as trades), so the book's keys are exact and never floats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.binance.contracts import ContractSpec
from pipelines.binance.parsers import FrameRejected

_EMPTY = np.zeros((0, 2), dtype=np.int64)


@dataclass(frozen=True, slots=True)
class DepthDiff:
    """One `depthUpdate` of a diff-depth stream: absolute quantities, 0 removes the level."""

    symbol: str
    event_time: int  # E
    transaction_time: int  # T: the matching engine's time, the book's clock
    first_id: int  # U
    final_id: int  # u
    prev_final_id: int  # pu: `u` of the previous event of this stream
    bids: np.ndarray  # (n, 2) int64: price ticks, quantity steps
    asks: np.ndarray


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """A `GET /fapi/v1/depth` answer: the book as of `last_update_id`."""

    last_update_id: int
    transaction_time: int
    bids: np.ndarray  # (n, 2) int64: price ticks, quantity steps
    asks: np.ndarray


def _grid_levels(levels: object, spec: ContractSpec, key: str) -> np.ndarray:
    if type(levels) is not list:
        raise FrameRejected(f"depth levels {key!r} are not a list")
    if not levels:
        return _EMPTY
    try:
        values = np.array(levels, dtype=np.float64)
    except (TypeError, ValueError):
        raise FrameRejected(f"depth levels {key!r} are not [price, qty] numbers") from None
    if values.ndim != 2 or values.shape[1] != 2:
        raise FrameRejected(f"depth levels {key!r} are not [price, qty] pairs")
    if not (np.all(values[:, 0] > 0) and np.all(values[:, 1] >= 0) and np.isfinite(values).all()):
        raise FrameRejected(f"depth levels {key!r} hold a price <= 0 or a negative quantity")
    out = np.empty((len(values), 2), dtype=np.int64)
    out[:, 0] = spec.price_to_ticks(values[:, 0])
    out[:, 1] = spec.qty_to_steps(values[:, 1])
    return out


def _integer(row: dict, key: str) -> int:
    value = row[key]
    if type(value) is not int:
        raise FrameRejected(f"depth field {key!r} is not an integer")
    return value


def parse_depth_diff(data: dict, spec: ContractSpec) -> DepthDiff:
    """A diff-depth event (the `data` of a combined-stream frame); FrameRejected says why not."""
    try:
        if data.get("e") != "depthUpdate":
            raise FrameRejected(f"not a depthUpdate: {data.get('e')!r}")
        return DepthDiff(
            symbol=data["s"],
            event_time=_integer(data, "E"),
            transaction_time=_integer(data, "T"),
            first_id=_integer(data, "U"),
            final_id=_integer(data, "u"),
            prev_final_id=_integer(data, "pu"),
            bids=_grid_levels(data["b"], spec, "b"),
            asks=_grid_levels(data["a"], spec, "a"),
        )
    except (KeyError, AttributeError) as exc:
        raise FrameRejected(f"depthUpdate without {exc}") from None


def parse_depth_snapshot(body: dict, spec: ContractSpec) -> DepthSnapshot:
    """A REST depth answer; FrameRejected says why it cannot be used."""
    try:
        return DepthSnapshot(
            last_update_id=_integer(body, "lastUpdateId"),
            transaction_time=int(body.get("T", 0)),
            bids=_grid_levels(body["bids"], spec, "bids"),
            asks=_grid_levels(body["asks"], spec, "asks"),
        )
    except (KeyError, AttributeError, TypeError) as exc:
        raise FrameRejected(f"depth snapshot without {exc}") from None
