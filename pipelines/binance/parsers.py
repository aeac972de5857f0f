"""Parsers for Binance USD-M websocket frames and REST answers.

`FrameParser.parse` turns a micro-batch of raw frames into columnar arrays (see
`pipelines.records`). A malformed or truncated frame is counted, logged and skipped: it never
raises out of `parse`, so one bad frame cannot stop a stream. Rows of COIN-M contracts (`st == 2`)
and symbols outside the registry are filtered (counted apart from rejections). Fields added in
2025-2026 (`nq`, `st`, `ps`, `ap`) are optional.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
import orjson
import pandas as pd

from pipelines.binance.registry import SymbolRegistry
from pipelines.records.batch import BookTop
from pipelines.records.dtypes import (
    BOOK_TICKER_DTYPE,
    KLINE_DTYPE,
    LIQUIDATION_DTYPE,
    TICKER_DTYPE,
    TRADE_DTYPE,
)

log = logging.getLogger(__name__)

USD_M = 1
COIN_M = 2
# Upper bounds that no real price or quantity reaches; beyond them a value is garbage.
_MAX_PRICE = 1e12
_MAX_QTY = 1e15


class FrameRejected(ValueError):
    """A frame or row that cannot be read; the message says why."""


@dataclass(slots=True)
class ControlReply:
    """Answer to SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS, or an error with its code."""

    id: int | None
    result: object = None
    error_code: int | None = None
    error_msg: str = ""


@dataclass(slots=True)
class ParsedBatch:
    trades: np.ndarray  # TRADE_DTYPE, aggTrades
    raw_trades: np.ndarray  # TRADE_DTYPE, @trade frames (agg_id holds the trade id)
    liquidations: np.ndarray  # LIQUIDATION_DTYPE
    tickers: np.ndarray  # TICKER_DTYPE
    klines: np.ndarray  # KLINE_DTYPE
    book_tickers: np.ndarray  # BOOK_TICKER_DTYPE
    books: list[BookTop] = field(default_factory=list)
    controls: list[ControlReply] = field(default_factory=list)
    rejected: int = 0
    filtered: int = 0


class RejectionLog:
    """Counts rejections by reason, logs the first few of each and keeps recent samples."""

    def __init__(self, log_first: int = 5, log_every: int = 1000, keep: int = 20) -> None:
        self.by_reason: Counter[str] = Counter()
        self.samples: deque[tuple[str, str]] = deque(maxlen=keep)
        self._log_first = log_first
        self._log_every = log_every

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    def add(self, reason: str, frame: bytes | str | dict) -> None:
        self.by_reason[reason] += 1
        n = self.by_reason[reason]
        text = frame if isinstance(frame, str) else repr(frame)
        self.samples.append((reason, text[:300]))
        if n <= self._log_first or n % self._log_every == 0:
            log.warning("rejected frame #%d (%s): %.200s", n, reason, text)


def _levels(row: dict, key: str) -> tuple:
    """The [price, qty] levels of a depth answer, flattened as `BookTop` keeps them (it
    converts them to numbers on read)."""
    levels = row[key]
    if type(levels) is not list or not set(map(len, levels)) <= {2}:
        raise FrameRejected(f"depth levels {key!r} are not a list of [price, qty] pairs")
    return tuple(chain.from_iterable(levels))


class FrameParser:
    """Parses combined-stream or raw frames against a `SymbolRegistry`."""

    def __init__(self, registry: SymbolRegistry) -> None:
        self.registry = registry
        self.rejections = RejectionLog()
        self.filtered: Counter[str] = Counter()
        self.ignored: Counter[str] = Counter()
        self.frames = 0

    def parse(self, frames: Iterable[bytes | str]) -> ParsedBatch:
        acc = _Accumulator()
        rejected_before = self.rejections.total
        filtered_before = self.filtered.total()
        # The aggTrade and depth fast paths inline the checks of `_trade` and `_depth`; anything
        # they do not accept goes through `_dispatch`, which accepts it or says precisely why not.
        append_trade = acc.trades.append
        append_book = acc.books.append
        index = self.registry.index
        loads = orjson.loads
        n = 0
        for frame in frames:
            n += 1
            try:
                message = loads(frame)
            except orjson.JSONDecodeError:
                self.rejections.add("invalid JSON", frame)
                continue
            data = message.get("data", message) if type(message) is dict else message
            if (
                type(data) is dict
                and data.get("e") == "aggTrade"
                and data.get("st", USD_M) == USD_M
            ):
                try:
                    price, qty, trade_id, t, m = (
                        float(data["p"]), float(data["q"]), data["a"], data["T"], data["m"],
                    )  # fmt: skip
                    sym = index(data["s"])
                    if (
                        sym is not None
                        and 0.0 < price < _MAX_PRICE
                        and 0.0 < qty < _MAX_QTY
                        and type(trade_id) is int
                        and type(t) is int
                        and type(m) is bool
                    ):
                        append_trade(
                            (
                                sym,
                                trade_id,
                                data["f"],
                                data["l"],
                                t,
                                price,
                                qty,
                                m,
                                data.get("E", 0),
                            )
                        )
                        continue
                except (KeyError, TypeError, ValueError):
                    pass
            elif type(data) is dict and data.get("e") == "depthUpdate":
                # Partial depth is most frames after trades: the same checks as `_depth`.
                try:
                    t, sym = data["E"], index(data["s"])
                    if sym is not None and data.get("st", USD_M) == USD_M and type(t) is int:
                        bids, asks = _levels(data, "b"), _levels(data, "a")
                        append_book(BookTop(sym, t, bids, asks, data["u"]))
                        continue
                except (KeyError, TypeError, FrameRejected):
                    pass
            self._dispatch_message(data, frame, acc)
        self.frames += n
        return acc.finish(
            self.registry,
            rejected=self.rejections.total - rejected_before,
            filtered=self.filtered.total() - filtered_before,
        )

    def _dispatch_message(self, data: object, frame: bytes | str, acc: _Accumulator) -> None:
        try:
            if isinstance(data, list):
                for row in data:
                    self._dispatch(row, acc)
            else:
                self._dispatch(data, acc)
        except FrameRejected as exc:
            self.rejections.add(str(exc), frame)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            self.rejections.add(f"{type(exc).__name__}: {exc}", frame)

    def _symbol(self, row: dict, key: str = "s") -> int | None:
        if row.get("st", USD_M) != USD_M:
            self.filtered["COIN-M row"] += 1
            return None
        sym = self.registry.index(row[key])
        if sym is None:
            self.filtered["symbol outside the universe"] += 1
        return sym

    def _dispatch(self, row: object, acc: _Accumulator) -> None:
        if not isinstance(row, dict):
            raise FrameRejected(f"expected an object, got {type(row).__name__}")
        event = row.get("e")
        if event == "aggTrade":
            self._trade(row, acc.trades, row["a"], row["f"], row["l"])
        elif event == "trade":
            if (
                row.get("X", "MARKET") != "MARKET"
            ):  # insurance-fund and ADL prints are no taker flow
                self.filtered[f"trade type {row.get('X')}"] += 1
                return
            self._trade(row, acc.raw_trades, row["t"], row["t"], row["t"])
        elif event == "forceOrder":
            self._force_order(row, acc)
        elif event == "depthUpdate":
            self._depth(row, acc)
        elif event in ("24hrTicker", "24hrMiniTicker"):
            self._ticker(row, acc)
        elif event == "kline":
            self._kline(row, acc)
        elif event == "bookTicker":
            self._book_ticker(row, acc)
        elif event is None and ("result" in row or "error" in row) and "id" in row:
            error = row.get("error") or {}
            acc.controls.append(
                ControlReply(row["id"], row.get("result"), error.get("code"), error.get("msg", ""))
            )
        elif event is None:
            raise FrameRejected("no event type")
        else:
            self.ignored[event] += 1

    def _trade(self, row: dict, out: list, trade_id: int, first: int, last: int) -> None:
        price, qty = float(row["p"]), float(row["q"])
        if not (0.0 < price < _MAX_PRICE and 0.0 < qty < _MAX_QTY):
            raise FrameRejected("price or quantity out of range")
        if not (isinstance(trade_id, int) and isinstance(row["T"], int)):
            raise FrameRejected("trade id or time is not an integer")
        if not isinstance(row["m"], bool):
            raise FrameRejected("maker flag is not a boolean")
        sym = self._symbol(row)
        if sym is None:
            return
        out.append((sym, trade_id, first, last, row["T"], price, qty, row["m"], row.get("E", 0)))

    def _force_order(self, row: dict, acc: _Accumulator) -> None:
        order = row["o"]
        side = order["S"]
        if side not in ("BUY", "SELL"):
            raise FrameRejected(f"liquidation side {side!r}")
        price, qty = float(order["ap"]), float(order["z"])
        if not (0.0 < price < _MAX_PRICE and 0.0 <= qty < _MAX_QTY):
            raise FrameRejected("liquidation price or quantity out of range")
        sym = self._symbol(order)
        if sym is None:
            return
        acc.liquidations.append(
            (sym, int(order["T"]), int(row["E"]), side == "SELL", price, qty, price * qty)
        )

    def _depth(self, row: dict, acc: _Accumulator) -> None:
        bids, asks = _levels(row, "b"), _levels(row, "a")
        sym = self._symbol(row)
        if sym is None:
            return
        acc.books.append(BookTop(sym, int(row["E"]), bids, asks, row["u"]))

    def _ticker(self, row: dict, acc: _Accumulator) -> None:
        values = (float(row["c"]), float(row["v"]), float(row["q"]), int(row.get("n", -1)))
        sym = self._symbol(row)
        if sym is None:
            return
        acc.tickers.append((sym, int(row["E"]), *values))

    def _kline(self, row: dict, acc: _Accumulator) -> None:
        k = row["k"]
        values = (
            int(k["t"]),
            int(k["T"]),
            float(k["o"]),
            float(k["h"]),
            float(k["l"]),
            float(k["c"]),
            float(k["v"]),
            float(k["q"]),
            int(k["n"]),
            float(k["V"]),
            float(k["Q"]),
            bool(k["x"]),
        )
        sym = self._symbol(row)
        if sym is None:
            return
        acc.klines.append((sym, *values))

    def _book_ticker(self, row: dict, acc: _Accumulator) -> None:
        values = (float(row["b"]), float(row["B"]), float(row["a"]), float(row["A"]))
        sym = self._symbol(row)
        if sym is None:
            return
        acc.book_tickers.append((sym, int(row.get("E", row.get("T", 0))), *values))


class _Accumulator:
    """Python lists filled per frame, turned into arrays once per batch."""

    __slots__ = (
        "book_tickers",
        "books",
        "controls",
        "klines",
        "liquidations",
        "raw_trades",
        "tickers",
        "trades",
    )

    def __init__(self) -> None:
        self.trades: list[tuple] = []
        self.raw_trades: list[tuple] = []
        self.liquidations: list[tuple] = []
        self.tickers: list[tuple] = []
        self.klines: list[tuple] = []
        self.book_tickers: list[tuple] = []
        self.books: list[BookTop] = []
        self.controls: list[ControlReply] = []

    def finish(self, registry: SymbolRegistry, *, rejected: int, filtered: int) -> ParsedBatch:
        return ParsedBatch(
            trades=_trade_array(self.trades, registry),
            raw_trades=_trade_array(self.raw_trades, registry),
            liquidations=np.array(self.liquidations, dtype=LIQUIDATION_DTYPE),
            tickers=np.array(self.tickers, dtype=TICKER_DTYPE),
            klines=np.array(self.klines, dtype=KLINE_DTYPE),
            book_tickers=np.array(self.book_tickers, dtype=BOOK_TICKER_DTYPE),
            books=self.books,
            controls=self.controls,
            rejected=rejected,
            filtered=filtered,
        )


_WIRE_TRADE = np.dtype(
    [
        ("sym", "i4"),
        ("agg_id", "i8"),
        ("first_id", "i8"),
        ("last_id", "i8"),
        ("time", "i8"),
        ("price", "f8"),
        ("qty", "f8"),
        ("buyer_maker", "?"),
        ("event_time", "i8"),
    ]
)


def _trade_array(rows: list[tuple], registry: SymbolRegistry) -> np.ndarray:
    """Wire rows (float price and quantity) to `TRADE_DTYPE` on each contract's grid."""
    wire = np.array(rows, dtype=_WIRE_TRADE)
    out = np.empty(len(wire), dtype=TRADE_DTYPE)
    for name in ("sym", "agg_id", "first_id", "last_id", "time", "buyer_maker", "event_time"):
        out[name] = wire[name]
    out["price"] = registry.to_ticks(wire["sym"], wire["price"])
    out["qty"] = registry.to_steps(wire["sym"], wire["qty"])
    return out


# ---------------------------------------------------------------- REST answers


def parse_agg_trades_rest(body: list[dict], sym: int, registry: SymbolRegistry) -> np.ndarray:
    """`GET /fapi/v1/aggTrades` rows (a, p, q, f, l, T, m; `nq` optional) for one contract."""
    rows = [
        (sym, r["a"], r["f"], r["l"], r["T"], float(r["p"]), float(r["q"]), r["m"], 0) for r in body
    ]
    return _trade_array(rows, registry)


KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "trades",
    "taker_buy_volume",
    "taker_buy_quote_volume",
)


def parse_klines(body: list[list]) -> pd.DataFrame:
    """`GET /fapi/v1/klines` rows; the trailing 'ignore' field is dropped."""
    frame = pd.DataFrame([row[: len(KLINE_COLUMNS)] for row in body], columns=list(KLINE_COLUMNS))
    floats = [
        "open",
        "high",
        "low",
        "close",
        "volume",
        "quote_volume",
        "taker_buy_volume",
        "taker_buy_quote_volume",
    ]
    frame[floats] = frame[floats].astype(np.float64)
    for col in ("open_time", "close_time", "trades"):
        frame[col] = frame[col].astype(np.int64)
    return frame


def parse_depth(body: dict, sym: int) -> BookTop:
    """`GET /fapi/v1/depth` answer."""
    return BookTop(
        sym,
        int(body.get("E", 0)),
        _levels(body, "bids"),
        _levels(body, "asks"),
        int(body["lastUpdateId"]),
    )


def parse_ticker_24h(body: list[dict] | dict) -> pd.DataFrame:
    """`GET /fapi/v1/ticker/24hr` (one symbol or all TRADING contracts)."""
    rows = [body] if isinstance(body, dict) else body
    frame = pd.DataFrame(rows)
    floats = [
        "priceChange",
        "priceChangePercent",
        "weightedAvgPrice",
        "lastPrice",
        "lastQty",
        "openPrice",
        "highPrice",
        "lowPrice",
        "volume",
        "quoteVolume",
    ]
    present = [c for c in floats if c in frame]
    frame[present] = frame[present].astype(np.float64)
    return frame
