"""A small generated data.binance.vision archive (zips + CHECKSUMs) for the research tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.binance import vision

HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"


@dataclass(frozen=True)
class Contract:
    symbol: str
    price_decimals: int
    qty_decimals: int
    start_units: int  # first price, in units of 10**-price_decimals
    rows: int  # aggTrades per day


CONTRACTS = (
    Contract("BTCUSDT", 1, 3, 600_000, 3_000),
    # The adversarial grid: 0.29 / 0.01 = 28.999999999999996 floors to the wrong tick.
    Contract("ADAUSDT", 2, 0, 57, 2_000),
    Contract("ETHUSDT", 2, 3, 300_000, 2_500),
)


def _fixed(units: np.ndarray, decimals: int) -> list[str]:
    if decimals == 0:
        return [str(int(u)) for u in units]
    scale = 10**decimals
    return [f"{int(u) // scale}.{int(u) % scale:0{decimals}d}" for u in units]


def over_the_day(time: np.ndarray, start: int) -> np.ndarray:
    """Trade times (ms, in order) stretched from `start` to the day's last millisecond, same
    order and same-millisecond runs kept (the generated tape fills about the first 10 hours)."""
    offset = np.asarray(time, np.int64) - start
    return start + offset * (86_400_000 - 1) // (int(offset.max()) + 1)


def day_frame(
    c: Contract, day: dt.date, seed: int, whole_day: bool = False
) -> tuple[pd.DataFrame, list[str]]:
    """One contract-day: (frame as the analytics read it, the CSV lines). `whole_day`: trades
    until midnight (else the tests' tape: about the day's first 10 hours)."""
    rng = np.random.default_rng(seed)
    n = c.rows
    start = (day - dt.date(1970, 1, 1)).days * 86_400_000
    # Runs of fills in the same millisecond and side with consecutive ids are taker orders.
    run_len = rng.geometric(0.4, n)
    time = np.sort(rng.integers(start, start + 86_400_000, n))
    run_id = np.repeat(np.arange(n), run_len)[:n]
    time = time[np.minimum(run_id, n - 1)]
    time = np.maximum.accumulate(time)
    if whole_day:
        time = over_the_day(time, start)
    sell = rng.random(n)[run_id] < 0.5
    step = np.where(sell, -1, 1) * rng.integers(0, 2, n)
    price = np.maximum(c.start_units + np.cumsum(step), 1)
    qty = rng.geometric(0.05, n)
    qty[rng.random(n) < 0.01] *= 500  # a few big fills
    ids = 10_000 * seed + np.arange(n)
    first = 3 * ids
    last = first + rng.integers(0, 3, n)
    lines = [
        f"{a},{p},{q},{f},{la},{t},{'true' if s else 'false'}"
        for a, p, q, f, la, t, s in zip(
            ids, _fixed(price, c.price_decimals), _fixed(qty, c.qty_decimals), first, last,
            time, sell, strict=True,
        )
    ]  # fmt: skip
    frame = pd.DataFrame(
        {
            "agg_trade_id": ids,
            "price": price / 10**c.price_decimals,
            "quantity": qty / 10**c.qty_decimals,
            "first_trade_id": first,
            "last_trade_id": last,
            "transact_time": time,
            "is_buyer_maker": sell,
        }
    )
    return frame, lines


def write_archive(
    root: Path,
    days: list[dt.date],
    contracts: tuple[Contract, ...] = CONTRACTS,
    skip: frozenset[tuple[str, dt.date]] = frozenset(),
    whole_day: bool = False,
) -> dict[tuple[str, dt.date], pd.DataFrame]:
    """Write the zips (header rows on odd days only, like files before/after 2022-08-11) and
    their CHECKSUMs below `root`; returns the frames by (symbol, day). `whole_day`: see
    `day_frame`."""
    frames = {}
    for ci, c in enumerate(contracts):
        for di, day in enumerate(days):
            if (c.symbol, day) in skip:
                continue
            frame, lines = day_frame(c, day, seed=1 + 97 * ci + di, whole_day=whole_day)
            text = "\n".join(([HEADER] if di % 2 else []) + lines) + "\n"
            path = root / vision.day_path(c.symbol, day)
            path.parent.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr(path.with_suffix(".csv").name, text)
            path.write_bytes(buf.getvalue())
            digest = hashlib.sha256(buf.getvalue()).hexdigest()
            path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}\n")
            frames[(c.symbol, day)] = frame
    return frames
