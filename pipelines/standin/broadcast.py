"""Fan-out of the market's output to the connected clients, stream by stream.

Each push selects, with one mask lookup per connection, the rows a connection subscribed to;
payloads are formatted once per push for all connections (enveloped and raw only if someone
needs that form) and framed once, except on connections with frame faults, which get their own.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import orjson

from pipelines.binance.endpoints import (
    ALL_FORCE_ORDERS,
    ALL_MINI_TICKERS,
    ALL_TICKERS,
    stream_symbol,
)
from pipelines.records.timeunits import MINUTE_MS
from pipelines.standin.connection import WsConnection
from pipelines.standin.derivatives import Derivatives, next_funding_time
from pipelines.standin.frames import Formats, coin_m_row, envelope, ws_frame
from pipelines.standin.market import Market
from pipelines.standin.replay import ReplayFrame

COIN_M_EVERY_S = 10  # how often a COIN-M row rides along in the all-market ticker arrays


class Broadcaster:
    def __init__(self, market: Market, formats: Formats) -> None:
        self.market = market
        self.formats = formats
        self.agg_frames_sent = 0
        self._depth_u: dict[int, int] = {}
        self._kline_minute = -1

    # -------------------------------------------------------------- aggTrade

    def trades(
        self, trades: np.ndarray, nq: np.ndarray, conns: Iterable[WsConnection], now_ms: int
    ) -> None:
        """Every trade of the step(s), each its own frame, in transaction-time order."""
        if len(trades) == 0:
            return
        takers = [(c, c.subs.plan(self.market)) for c in conns if not c.closed]
        takers = [(c, p.agg) for c, p in takers if p.any_agg]
        if not takers:
            return
        order = np.argsort(trades["time"], kind="stable")  # keeps per-symbol id order
        trades, nq = trades[order], nq[order]
        wanted = np.zeros(len(trades), bool)
        for _, mask in takers:
            wanted |= mask[trades["sym"]]
        rows = np.flatnonzero(wanted)
        trades, nq = trades[rows], nq[rows]
        sym = trades["sym"]
        forms: dict[bool, tuple[list[bytes], list[bytes]]] = {}
        for conn, mask in takers:
            combined = conn.subs.combined
            if combined not in forms:
                payloads = self.formats.agg_trades(trades, nq, combined=combined)
                forms[combined] = (payloads, [ws_frame(p) for p in payloads])
            payloads, framed = forms[combined]
            mine = mask[sym]
            if not mine.all():
                idx = np.flatnonzero(mine).tolist()
                payloads = [payloads[i] for i in idx]
                framed = [framed[i] for i in idx]
            if conn.faults.spec.frame_faults:
                faulty = conn.faults.apply(payloads)
                if faulty is not payloads:
                    framed = [ws_frame(p) for p in faulty]
            conn.send(framed, now_ms)
            self.agg_frames_sent += len(framed)

    def raw_trades(self, trades: np.ndarray, conns: list[WsConnection], now_ms: int) -> None:
        """`<symbol>@trade`: the fills behind each aggTrade, one frame per raw trade."""
        wants, subscribed = self._wanting(conns, lambda plan: plan.trade)
        if not wants or len(trades) == 0:
            return
        mine = trades[subscribed[trades["sym"]]]
        if len(mine) == 0:
            return
        events: dict[int, list[bytes]] = {}
        for sym, payload in self.formats.raw_trades(
            mine[np.argsort(mine["time"], kind="stable")], now_ms
        ):
            events.setdefault(sym, []).append(payload)
        self._send_per_symbol(events, wants, "trade", now_ms)

    # -------------------------------------------------------------- mark price

    def mark_prices(
        self, period_ms: int, deriv: Derivatives, conns: list[WsConnection], now_ms: int
    ) -> None:
        """`<symbol>@markPrice[@1s]` and `!markPrice@arr[@1s]` (every contract trading)."""
        suffix = "@1s" if period_ms == 1000 else ""
        wants, subscribed = self._wanting(conns, lambda plan: plan.mark.get(period_ms))
        everyone = [c for c in conns if period_ms in c.subs.plan(self.market).mark_all]
        if not wants and not everyone:
            return
        funding_at = next_funding_time(now_ms)
        fmt = self.formats
        if everyone:
            rows = [
                fmt.mark_price(deriv, s, now_ms, funding_at)
                for s in np.flatnonzero(self.market.active).tolist()
            ]
            data = orjson.dumps(rows)
            for conn in everyone:
                conn.send_payloads([self._form(conn, f"!markPrice@arr{suffix}", data)], now_ms)
        events = {
            s: [orjson.dumps(fmt.mark_price(deriv, s, now_ms, funding_at))]
            for s in np.flatnonzero(subscribed).tolist()
        }
        self._send_per_symbol(events, wants, f"markPrice{suffix}", now_ms)

    # -------------------------------------------------------------- liquidations

    def force_orders(self, liqs: np.ndarray, conns: Iterable[WsConnection], now_ms: int) -> None:
        if len(liqs) == 0:
            return
        for conn in conns:
            plan = conn.subs.plan(self.market)
            if not (plan.force_all or plan.force.any()):
                continue
            out = []
            for liq in liqs:
                data = self.formats.force_order(liq, now_ms)
                if plan.force_all:
                    out.append(self._form(conn, ALL_FORCE_ORDERS, data))
                sym = int(liq["sym"])
                if plan.force[sym]:
                    stream = f"{stream_symbol(self.market.contracts[sym].symbol)}@forceOrder"
                    out.append(self._form(conn, stream, data))
            conn.send_payloads(out, now_ms)

    # -------------------------------------------------------------- tickers

    def tickers(self, changed: np.ndarray, conns: list[WsConnection], now_ms: int) -> None:
        """`!ticker@arr` / `!miniTicker@arr`: only contracts that changed in the last second."""
        wants = [(c, c.subs.plan(self.market)) for c in conns]
        wants = [(c, p) for c, p in wants if p.tickers or p.mini_tickers]
        syms = np.flatnonzero(changed)
        if not wants or len(syms) == 0:
            return
        stats = self.market.ticker_24h(now_ms)
        coin_m = (now_ms // 1000) % COIN_M_EVERY_S == 0
        data = {}
        for mini in (False, True):
            if any((p.mini_tickers if mini else p.tickers) for _, p in wants):
                rows = self.formats.ticker_rows(stats, syms, now_ms, mini=mini)
                if coin_m:
                    rows.append(coin_m_row(now_ms, mini=mini))
                data[mini] = orjson.dumps(rows)
        for conn, plan in wants:
            out = []
            if plan.tickers:
                out.append(self._form(conn, ALL_TICKERS, data[False]))
            if plan.mini_tickers:
                out.append(self._form(conn, ALL_MINI_TICKERS, data[True]))
            conn.send_payloads(out, now_ms)

    # -------------------------------------------------------------- klines

    def _wanting(self, conns: list[WsConnection], mask_of) -> tuple[list, np.ndarray]:
        """(connection, symbol mask) of the connections subscribed to a per-symbol stream kind,
        and the union of their masks."""
        wants = [(c, mask_of(c.subs.plan(self.market))) for c in conns]
        wants = [(c, m) for c, m in wants if m is not None and m.any()]
        subscribed = np.zeros(len(self.market.contracts), bool)
        for _, mask in wants:
            subscribed |= mask
        return wants, subscribed

    def klines(self, changed: np.ndarray, conns: list[WsConnection], now_ms: int) -> None:
        """`<symbol>@kline_1m` updates; the closing update (x=true) when a minute ends."""
        minute = now_ms // MINUTE_MS
        previous, self._kline_minute = self._kline_minute, minute
        wants, subscribed = self._wanting(conns, lambda plan: plan.kline)
        if not wants:
            return
        events: dict[int, list[bytes]] = {}
        if previous not in (-1, minute):
            syms = np.flatnonzero(subscribed)
            bars = self.market.minutes.current(syms, previous)
            for i, s in enumerate(syms.tolist()):
                if bars["valid"][i]:
                    bar = {k: v[i] for k, v in bars.items()}
                    events.setdefault(s, []).append(
                        self.formats.kline_event(s, bar, now_ms, closed=True)
                    )
        syms = np.flatnonzero(subscribed & changed)
        bars = self.market.minutes.current(syms, minute)
        for i, s in enumerate(syms.tolist()):
            if bars["valid"][i]:
                bar = {k: v[i] for k, v in bars.items()}
                events.setdefault(s, []).append(
                    self.formats.kline_event(s, bar, now_ms, closed=False)
                )
        self._send_per_symbol(events, wants, "kline_1m", now_ms)

    # -------------------------------------------------------------- books

    def depth(self, speed_ms: int, conns: list[WsConnection], now_ms: int) -> None:
        """Partial depth `<symbol>@depth<N>[@speed]` snapshots due at this speed."""
        for levels in (5, 10, 20):
            key = (levels, speed_ms)
            wants, subscribed = self._wanting(conns, lambda plan, key=key: plan.depth.get(key))
            if not wants:
                continue
            events = {}
            for s in np.flatnonzero(subscribed).tolist():
                book = self.market.book(s, levels, now_ms)
                prev = self._depth_u.get(s, book.update_id - 1)
                self._depth_u[s] = book.update_id
                events[s] = [self.formats.depth_event(s, book, now_ms, prev)]
            suffix = "" if speed_ms == 250 else f"@{speed_ms}ms"
            self._send_per_symbol(events, wants, f"depth{levels}{suffix}", now_ms)

    def diff_depth(self, speed_ms: int, conns: list[WsConnection], now_ms: int) -> None:
        """`<symbol>@depth[@100ms|@500ms|@0ms]`: every level of the true book that changed since
        the stream's previous event (0 for removed ones).

        Subscribing materialises the contract's true book. `U`/`u`/`pu` chain the events of a
        stream (pu = the previous event's u, U = pu + 1) and cover every update id, so a REST
        snapshot's lastUpdateId falls into one event's [U, u] (see book.py for why).
        """
        wants, subscribed = self._wanting(conns, lambda plan: plan.diff.get(speed_ms))
        if not wants:
            return
        market = self.market
        events = {}
        for s in np.flatnonzero(subscribed).tolist():
            book = market.open_book(s)
            pu, changes = book.changes_since_sent(speed_ms)
            if not changes:
                continue
            u = book.mark_sent(speed_ms)
            events[s] = self.formats.diff_depth_event(s, changes, now_ms, book.time, pu + 1, u, pu)
        if not events:
            return
        suffix = {250: "", 0: "@0ms"}.get(speed_ms, f"@{speed_ms}ms")
        names = market.contracts
        for conn, mask in wants:
            out = []
            for s, payload in events.items():
                if mask[s]:
                    stream = f"{stream_symbol(names[s].symbol)}@depth{suffix}"
                    out.append((stream, self._form(conn, stream, payload)))
            conn.send_payloads(conn.faults.depth_events(out), now_ms)

    def book_tickers(self, changed: np.ndarray, conns: list[WsConnection], now_ms: int) -> None:
        wants, subscribed = self._wanting(conns, lambda plan: plan.book_ticker)
        if not wants:
            return
        events = {
            s: [self.formats.book_ticker(s, self.market.book(s, 1, now_ms), now_ms)]
            for s in np.flatnonzero(subscribed & changed).tolist()
        }
        self._send_per_symbol(events, wants, "bookTicker", now_ms)

    # -------------------------------------------------------------- replay

    def replay(self, frames: list[ReplayFrame], conns: list[WsConnection], now_ms: int) -> int:
        """Send the due frames to their subscribers; returns how many frames went out."""
        sent = 0
        for conn in conns:
            out = [
                f.combined if conn.subs.combined else f.raw
                for f in frames
                if conn.subs.delivers(f.stream)
            ]
            conn.send_payloads(out, now_ms)
            sent += len(out)
        return sent

    # -------------------------------------------------------------- helpers

    def _send_per_symbol(
        self, events: dict[int, list[bytes]], wants, kind: str, now_ms: int
    ) -> None:
        if not events:
            return
        names = self.market.contracts
        for conn, mask in wants:
            out = []
            for s, payloads in events.items():
                if mask[s]:
                    stream = f"{stream_symbol(names[s].symbol)}@{kind}"
                    out.extend(self._form(conn, stream, p) for p in payloads)
            conn.send_payloads(out, now_ms)

    @staticmethod
    def _form(conn: WsConnection, stream: str, data: bytes) -> bytes:
        return envelope(stream, data) if conn.subs.combined else data
