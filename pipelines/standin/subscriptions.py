"""Subscriptions of one websocket connection and the JSON control protocol.

Binance acknowledges every SUBSCRIBE, whatever it names: a stream on the wrong route (since
2026-04-23 `/market` streams are silent on `/public` and on unrouted URLs), an uppercase symbol or
an unknown one. The stand-in does the same: `plan()` keeps only what the connection can really
receive, as per-contract masks the broadcaster indexes with whole arrays of symbols.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson

from pipelines.binance.endpoints import (
    ALL_FORCE_ORDERS,
    ALL_MINI_TICKERS,
    ALL_TICKERS,
    MAX_STREAMS_PER_CONNECTION,
    PUBLIC_ROUTE,
    route_of,
)
from pipelines.standin.market import Market

# Partial depth speeds: unsuffixed is 250 ms; an explicit "@250ms" is acknowledged and silent.
_DEPTH_SPEEDS = {"": 250, "@100ms": 100, "@500ms": 500}
# Diff depth also has the undocumented real-time `@0ms` (every step with a change).
_DIFF_SPEEDS = {**_DEPTH_SPEEDS, "@0ms": 0}
_MARK_PERIODS = {"markPrice": 3000, "markPrice@1s": 1000}
_ALL_MARK = {"!markPrice@arr": 3000, "!markPrice@arr@1s": 1000}


@dataclass(slots=True)
class Plan:
    """What a connection receives, compiled against one version of the universe."""

    agg: np.ndarray
    kline: np.ndarray
    force: np.ndarray
    book_ticker: np.ndarray
    trade: np.ndarray | None = None  # raw trades
    depth: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # (levels, ms)
    diff: dict[int, np.ndarray] = field(default_factory=dict)  # diff depth, by speed (ms)
    mark: dict[int, np.ndarray] = field(default_factory=dict)  # markPrice, by period (ms)
    mark_all: set[int] = field(default_factory=set)  # !markPrice@arr periods (ms)
    force_all: bool = False
    tickers: bool = False
    mini_tickers: bool = False

    @property
    def any_agg(self) -> bool:
        return bool(self.agg.any())


class ControlError(Exception):
    """A control request refused with a Binance error code."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class TooManySubscriptions(ControlError):
    def __init__(self) -> None:
        super().__init__(4, "Too many subscriptions")


class Subscriptions:
    def __init__(
        self, route: str, *, combined: bool, max_streams: int = MAX_STREAMS_PER_CONNECTION
    ) -> None:
        self.route = route or PUBLIC_ROUTE  # unrouted URLs carry only /public streams
        self.combined = combined
        self.max_streams = max_streams
        self.streams: dict[str, None] = {}  # ordered, as LIST_SUBSCRIPTIONS reports them
        self._version = 0
        self._plan: tuple[tuple[int, int], Plan] | None = None

    def add(self, names: list[str]) -> None:
        new = [n for n in dict.fromkeys(names) if n not in self.streams]
        if len(self.streams) + len(new) > self.max_streams:
            raise TooManySubscriptions()
        self.streams.update(dict.fromkeys(new))
        self._version += 1

    def remove(self, names: list[str]) -> None:
        for name in names:
            self.streams.pop(name, None)
        self._version += 1

    def delivers(self, stream: str) -> bool:
        return stream in self.streams and route_of(stream) == self.route

    def plan(self, market: Market) -> Plan:
        key = (market.version, self._version, len(market.contracts))
        if self._plan is not None and self._plan[0] == key:
            return self._plan[1]
        n = len(market.contracts)
        plan = Plan(np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool))
        for stream in self.streams:
            if route_of(stream) != self.route:
                continue
            if stream == ALL_FORCE_ORDERS:
                plan.force_all = True
            elif stream == ALL_TICKERS:
                plan.tickers = True
            elif stream == ALL_MINI_TICKERS:
                plan.mini_tickers = True
            elif stream in _ALL_MARK:
                plan.mark_all.add(_ALL_MARK[stream])
            else:
                self._symbol_stream(stream, market, plan)
        self._plan = (key, plan)
        return plan

    @staticmethod
    def _symbol_stream(stream: str, market: Market, plan: Plan) -> None:
        name, _, kind = stream.partition("@")
        sym = market.stream_index(name)
        if sym is None:
            return
        n = len(market.contracts)
        if kind == "aggTrade":
            plan.agg[sym] = True
        elif kind == "trade":
            if plan.trade is None:
                plan.trade = np.zeros(n, bool)
            plan.trade[sym] = True
        elif kind in _MARK_PERIODS:
            plan.mark.setdefault(_MARK_PERIODS[kind], np.zeros(n, bool))[sym] = True
        elif kind == "kline_1m":
            plan.kline[sym] = True
        elif kind == "forceOrder":
            plan.force[sym] = True
        elif kind == "bookTicker":
            plan.book_ticker[sym] = True
        elif kind.startswith("depth"):
            levels, _, speed = kind[5:].partition("@")
            speed_key = f"@{speed}" if speed else ""
            speed_ms = _DEPTH_SPEEDS.get(speed_key)
            if levels == "" and speed_key in _DIFF_SPEEDS:  # `<s>@depth[@100ms|@500ms|@0ms]`
                plan.diff.setdefault(_DIFF_SPEEDS[speed_key], np.zeros(n, bool))[sym] = True
            elif levels in ("5", "10", "20") and speed_ms:
                key = (int(levels), speed_ms)
                if key not in plan.depth:
                    plan.depth[key] = np.zeros(len(market.contracts), bool)
                plan.depth[key][sym] = True

    # -------------------------------------------------------------- control protocol

    def handle(self, text: bytes | str) -> bytes:
        """Answer one control message; raises TooManySubscriptions after its error reply."""
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return _error(None, 3, f"Invalid JSON: {exc}")
        if not isinstance(request, dict):
            return _error(None, 2, "Invalid request: expected a JSON object")
        rid = request.get("id")
        # Binance's own SDK sends string ids (uuid hex); numbers must be unsigned integers.
        if not isinstance(rid, str) and (
            isinstance(rid, bool) or not isinstance(rid, int) or rid < 0
        ):
            return _error(None, 2, "Invalid request: request ID must be an unsigned integer")
        try:
            return _result(rid, self._dispatch(request))
        except TooManySubscriptions:
            raise
        except ControlError as exc:
            return _error(rid, exc.code, exc.msg)

    def _dispatch(self, request: dict) -> object:
        method = request.get("method")
        params = request.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                raise ControlError(2, "Invalid request: params must be a list of stream names")
            if method == "SUBSCRIBE":
                self.add(params)
            else:
                self.remove(params)
            return None
        if method == "LIST_SUBSCRIPTIONS":
            return list(self.streams)
        if method in ("SET_PROPERTY", "GET_PROPERTY"):
            if not isinstance(params, list) or not params:
                raise ControlError(2, "Invalid request: missing property name")
            if params[0] != "combined":
                raise ControlError(0, "Unknown property")
            if method == "GET_PROPERTY":
                return self.combined
            if len(params) != 2 or not isinstance(params[1], bool):
                raise ControlError(1, "Invalid value type: expected Boolean")
            self.combined = params[1]
            return None
        raise ControlError(2, f"Invalid request: unknown method {method!r}")

    def too_many_reply(self, text: bytes | str) -> bytes:
        try:
            rid = orjson.loads(text).get("id")
        except (orjson.JSONDecodeError, AttributeError):
            rid = None
        return _error(rid, 4, "Too many subscriptions")


def _result(rid: int | str, result: object) -> bytes:
    return orjson.dumps({"result": result, "id": rid})


def _error(rid: int | str | None, code: int, msg: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "msg": msg}, "id": rid})
