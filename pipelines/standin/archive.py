"""The generated past in the data.binance.vision layout: daily aggTrades zips and checksums.

    /data/futures/um/daily/aggTrades/<SYM>/<SYM>-aggTrades-<YYYY-MM-DD>.zip
    /data/futures/um/daily/aggTrades/<SYM>/<SYM>-aggTrades-<YYYY-MM-DD>.zip.CHECKSUM

A zip holds one CSV named like it, with Binance's header row and its number style (no trailing
zeros: `0.27`, `108253.8`; booleans `true`/`false`). The checksum file is `sha256sum` output,
`<hex>  <zip name>`. Only complete UTC days inside the generated past exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import zipfile
from collections import OrderedDict

import numpy as np

from pipelines.records.timeunits import DAY_MS, MINUTE_MS
from pipelines.standin.past import Past

AGG_TRADES_HEADER = (
    "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
)
ARCHIVE_PREFIX = "/data/futures/um/daily/aggTrades/"
_NAME = re.compile(r"^(?P<sym>.+)-aggTrades-(?P<day>\d{4}-\d{2}-\d{2})\.zip$")
_CACHED = 4  # zips kept in memory (a busy contract's day is tens of MB)


def zip_name(symbol: str, day: int) -> str:
    """`BTCUSDT-aggTrades-2026-10-07.zip` for a UTC day number."""
    date = dt.datetime.fromtimestamp(day * DAY_MS / 1000, dt.UTC).date()
    return f"{symbol}-aggTrades-{date.isoformat()}.zip"


def parse_name(name: str) -> tuple[str, int] | None:
    """(symbol, UTC day number) of a daily aggTrades zip name, or None."""
    match = _NAME.match(name)
    if match is None:
        return None
    try:
        date = dt.date.fromisoformat(match["day"])
    except ValueError:
        return None
    epoch = dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC).timestamp()
    return match["sym"], int(epoch) * 1000 // DAY_MS


def _plain(texts: list[str]) -> list[str]:
    """Binance's CSV number style: `0.270` -> `0.27`, `5.000` -> `5`."""
    return [t.rstrip("0").rstrip(".") if "." in t else t for t in texts]


def checksum(data: bytes, name: str) -> bytes:
    return f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode()


class Archive:
    """Builds, on request, the daily zips of the past; `prices`/`qtys` format wire numbers."""

    def __init__(self, past: Past, prices, qtys) -> None:
        self.past = past
        self._prices = prices
        self._qtys = qtys
        self._zips: OrderedDict[tuple[int, int], bytes] = OrderedDict()

    def has_day(self, sym: int, day: int) -> bool:
        start, end = day * DAY_MS, (day + 1) * DAY_MS
        return self.past.has(sym) and start >= self.past.start_ms and end <= self.past.end_ms

    def csv(self, sym: int, day: int) -> bytes:
        first = day * DAY_MS // MINUTE_MS
        out = io.StringIO()
        out.write(AGG_TRADES_HEADER + "\n")
        for minute in range(first, first + DAY_MS // MINUTE_MS):
            rows = self.past.minute_trades(sym, minute)
            if len(rows) == 0:
                continue
            sv = np.full(len(rows), sym)
            prices = _plain(self._prices(rows["price"], sv))
            qtys = _plain(self._qtys(rows["qty"], sv))
            maker = ("false", "true")
            out.writelines(
                f"{a},{p},{q},{f},{lid},{t},{maker[m]}\n"
                for a, p, q, f, lid, t, m in zip(
                    rows["agg_id"].tolist(),
                    prices,
                    qtys,
                    rows["first_id"].tolist(),
                    rows["last_id"].tolist(),
                    rows["time"].tolist(),
                    rows["buyer_maker"].tolist(),
                    strict=True,
                )
            )
        return out.getvalue().encode()

    def zip(self, sym: int, symbol: str, day: int) -> bytes:
        key = (sym, day)
        data = self._zips.get(key)
        if data is None:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(zip_name(symbol, day)[: -len(".zip")] + ".csv", self.csv(sym, day))
            data = buf.getvalue()
            self._zips[key] = data
            if len(self._zips) > _CACHED:
                self._zips.popitem(last=False)
        self._zips.move_to_end(key)
        return data
