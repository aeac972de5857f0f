"""Binance-shaped payloads from the stand-in's arrays, and websocket framing.

Payloads are built from per-contract `%` templates (symbol, stream name and decimals baked in)
so that one aggTrade frame costs one string format: the stand-in must outpace any client.
Prices and quantities go out as decimal strings with the contract's wire decimals
(`pricePrecision` when it is finer than the tick, as Binance prints BTC at 0.10 ticks as
"83091.70"), computed from integer ticks and steps, never from floats.
"""

from __future__ import annotations

import numpy as np
import orjson

from pipelines.binance.endpoints import agg_trade_stream
from pipelines.records.timeunits import DAY_MS, MINUTE_MS
from pipelines.standin.book import Book, LevelChanges
from pipelines.standin.derivatives import INTEREST_PER_PERIOD, Derivatives
from pipelines.standin.market import Market

_TEXT = 0x81  # FIN + text opcode


def _header(n: int) -> bytes:
    if n < 126:
        return bytes((_TEXT, n))
    if n < 65536:
        return bytes((_TEXT, 126)) + n.to_bytes(2, "big")
    return bytes((_TEXT, 127)) + n.to_bytes(8, "big")


_HEADERS = tuple(_header(n) for n in range(4096))  # every aggTrade frame is shorter


def ws_frame(payload: bytes) -> bytes:
    """An unmasked server-to-client text frame (no compression is negotiated)."""
    n = len(payload)
    return (_HEADERS[n] if n < 4096 else _header(n)) + payload


def envelope(stream: str, data: bytes) -> bytes:
    """Combined-stream wrapper `{"stream":..,"data":..}`."""
    return b'{"stream":' + orjson.dumps(stream) + b',"data":' + data + b"}"


def _decimal_spec(decimals: int) -> str:
    # `%.0s` swallows the (zero) fractional part for grids without decimals.
    return f"%d.%0{decimals}d" if decimals > 0 else "%d%.0s"


class Formats:
    """Per-contract decimals and templates; rebuilt when the market's universe changes."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.version = -1
        self.refresh()

    def refresh(self) -> None:
        """Rebuild after a listing changed the universe; a cheap check otherwise."""
        market = self.market
        if self.version == market.version and len(self.names) == len(market.contracts):
            return
        contracts = market.contracts
        self.version = market.version
        self.names = [c.symbol for c in contracts]
        self.pairs = [c.pair for c in contracts]
        self.price_dec = np.array([c.wire_price_decimals for c in contracts])
        self.qty_dec = np.array([c.wire_qty_decimals for c in contracts])
        # Integer factors: ticks -> units of 10**-price_dec, steps -> units of 10**-qty_dec.
        self.price_mult = np.array(
            [
                c.spec.tick_units * 10 ** (c.wire_price_decimals - c.spec.price_decimals)
                for c in contracts
            ],
            dtype=np.int64,
        )
        self.qty_mult = np.array(
            [
                c.spec.step_units * 10 ** (c.wire_qty_decimals - c.spec.qty_decimals)
                for c in contracts
            ],
            dtype=np.int64,
        )
        self.price_pow = 10 ** self.price_dec.astype(np.int64)
        self.qty_pow = 10 ** self.qty_dec.astype(np.int64)
        self.quote_dec = np.minimum(self.price_dec + self.qty_dec, 8)
        self.agg_data = []
        self.agg_combined = []
        for c, pd_, qd in zip(contracts, self.price_dec, self.qty_dec, strict=True):
            p, q = _decimal_spec(int(pd_)), _decimal_spec(int(qd))
            sym = orjson.dumps(c.symbol).decode()
            data = (
                '{"e":"aggTrade","E":%d,"a":%d,"s":'
                + sym
                + ',"p":"'
                + p
                + '","q":"'
                + q
                + '","nq":"'
                + q
                + '","f":%d,"l":%d,"T":%d,"m":%s,"st":1}'
            )
            self.agg_data.append(data)
            stream = orjson.dumps(agg_trade_stream(c.symbol)).decode()
            self.agg_combined.append('{"stream":' + stream + ',"data":' + data + "}")

    # -------------------------------------------------------------- numbers

    def _split(self, values: np.ndarray, sym: np.ndarray, mult, pow_) -> tuple[list, list]:
        units = np.asarray(values, dtype=np.int64) * mult[sym]
        return (units // pow_[sym]).tolist(), (units % pow_[sym]).tolist()

    def prices(self, ticks: np.ndarray, sym: np.ndarray) -> list[str]:
        ip, fp = self._split(ticks, sym, self.price_mult, self.price_pow)
        return [
            _decimal_spec(int(d)) % (i, f)
            for i, f, d in zip(ip, fp, self.price_dec[sym].tolist(), strict=True)
        ]

    def qtys(self, steps: np.ndarray, sym: np.ndarray) -> list[str]:
        ip, fp = self._split(steps, sym, self.qty_mult, self.qty_pow)
        return [
            _decimal_spec(int(d)) % (i, f)
            for i, f, d in zip(ip, fp, self.qty_dec[sym].tolist(), strict=True)
        ]

    def price(self, ticks: int, sym: int) -> str:
        return self.prices(np.array([ticks]), np.array([sym]))[0]

    def qty(self, steps: int, sym: int) -> str:
        return self.qtys(np.array([steps]), np.array([sym]))[0]

    def fractional_price(self, ticks: float, sym: int) -> str:
        """A price off the tick grid (an average), rounded to the wire decimals."""
        units = round(ticks * int(self.price_mult[sym]))
        pow_ = int(self.price_pow[sym])
        sign = "-" if units < 0 else ""
        return sign + _decimal_spec(int(self.price_dec[sym])) % divmod(abs(units), pow_)

    def signed_price(self, ticks: int, sym: int) -> str:
        text = self.price(abs(ticks), sym)
        return "-" + text if ticks < 0 else text

    def quote(self, value: float, sym: int) -> str:
        return f"{value:.{int(self.quote_dec[sym])}f}"

    # -------------------------------------------------------------- aggTrade

    def agg_trades(self, trades: np.ndarray, nq: np.ndarray, *, combined: bool) -> list[bytes]:
        """One aggTrade payload per row (`TRADE_DTYPE`), enveloped when `combined`."""
        self.refresh()
        if len(trades) == 0:
            return []
        sym = trades["sym"]
        pi, pf = self._split(trades["price"], sym, self.price_mult, self.price_pow)
        qi, qf = self._split(trades["qty"], sym, self.qty_mult, self.qty_pow)
        ni, nf = self._split(nq, sym, self.qty_mult, self.qty_pow)
        templates = self.agg_combined if combined else self.agg_data
        maker = ("false", "true")
        return [
            (templates[s] % (e, a, p1, p2, q1, q2, n1, n2, f, lid, t, maker[m])).encode()
            for s, e, a, p1, p2, q1, q2, n1, n2, f, lid, t, m in zip(
                sym.tolist(),
                trades["event_time"].tolist(),
                trades["agg_id"].tolist(),
                pi,
                pf,
                qi,
                qf,
                ni,
                nf,
                trades["first_id"].tolist(),
                trades["last_id"].tolist(),
                trades["time"].tolist(),
                trades["buyer_maker"].tolist(),
                strict=True,
            )
        ]

    # -------------------------------------------------------------- liquidations

    def force_order(self, liq: np.void, event_time: int) -> bytes:
        """A forceOrder payload: `data` is one object even on `!forceOrder@arr`."""
        self.refresh()
        sym = int(liq["sym"])
        filled, orig = int(liq["filled_qty"]), int(liq["orig_qty"])
        order = {
            "s": self.names[sym],
            "S": "SELL" if liq["sell"] else "BUY",
            "o": "LIMIT",
            "f": "IOC",
            "q": self.qty(orig, sym),
            "p": self.price(int(liq["price"]), sym),
            "ap": self.fractional_price(float(liq["avg_price"]), sym),
            "X": "FILLED" if filled >= orig else "PARTIALLY_FILLED",
            "l": self.qty(int(liq["last_qty"]), sym),
            "z": self.qty(filled, sym),
            "T": int(liq["time"]),
            "ps": self.pairs[sym],
            "st": 1,
        }
        return orjson.dumps({"e": "forceOrder", "E": event_time, "o": order})

    # -------------------------------------------------------------- tickers

    def ticker_rows(
        self, stats: dict[str, np.ndarray], syms: np.ndarray, event_time: int, *, mini: bool
    ) -> list[dict]:
        self.refresh()
        rows = []
        for s in syms.tolist():
            volume = int(stats["volume"][s])
            quote = float(stats["quote"][s])
            row = {
                "e": "24hrMiniTicker" if mini else "24hrTicker",
                "E": event_time,
                "s": self.names[s],
            }
            if not mini:
                change = int(stats["last"][s]) - int(stats["open"][s])
                open_ticks = max(int(stats["open"][s]), 1)
                step = self.market.step[s]
                vwap_ticks = quote / max(volume * step, 1e-12) / self.market.tick[s]
                row |= {
                    "ps": self.pairs[s],
                    "p": self.signed_price(change, s),
                    "P": f"{100.0 * change / open_ticks:.3f}",
                    "w": self.fractional_price(vwap_ticks if volume else stats["last"][s], s),
                    "c": self.price(int(stats["last"][s]), s),
                    "Q": self.qty(int(stats["last_qty"][s]), s),
                }
            row |= {
                "o": self.price(int(stats["open"][s]), s),
                "h": self.price(int(stats["high"][s]), s),
                "l": self.price(int(stats["low"][s]), s),
                "c": self.price(int(stats["last"][s]), s),
                "v": self.qty(volume, s),
                "q": self.quote(quote, s),
            }
            if not mini:
                row |= {
                    "O": int(stats["open_time"][s]),
                    "C": event_time,
                    "F": int(stats["first_id"][s]),
                    "L": int(stats["last_id"][s]),
                    "n": int(stats["trades"][s]),
                }
            row["st"] = 1
            rows.append(row)
        return rows

    def rest_ticker(self, stats: dict[str, np.ndarray], sym: int, now_ms: int) -> dict:
        row = self.ticker_rows(stats, np.array([sym]), now_ms, mini=False)[0]
        return {
            "symbol": row["s"],
            "priceChange": row["p"],
            "priceChangePercent": row["P"],
            "weightedAvgPrice": row["w"],
            "lastPrice": row["c"],
            "lastQty": row["Q"],
            "openPrice": row["o"],
            "highPrice": row["h"],
            "lowPrice": row["l"],
            "volume": row["v"],
            "quoteVolume": row["q"],
            "openTime": row["O"],
            "closeTime": row["C"],
            "firstId": row["F"],
            "lastId": row["L"],
            "count": row["n"],
        }

    # -------------------------------------------------------------- klines

    def kline_rows(self, sym: int, bars) -> list[list]:
        """REST kline rows `[t, o, h, l, c, v, T, q, n, V, Q, "0"]` of one contract."""
        self.refresh()
        sv = np.full(len(bars), sym)
        o, h, lo, c = (self.prices(getattr(bars, f), sv) for f in ("open", "high", "low", "close"))
        v, tv = self.qtys(bars.volume, sv), self.qtys(bars.taker_volume, sv)
        return [
            [
                int(t),
                o[i],
                h[i],
                lo[i],
                c[i],
                v[i],
                int(ct),
                self.quote(float(q), sym),
                int(n),
                tv[i],
                self.quote(float(tq), sym),
                "0",
            ]
            for i, (t, ct, q, n, tq) in enumerate(
                zip(
                    bars.open_time,
                    bars.close_time,
                    bars.quote,
                    bars.trades,
                    bars.taker_quote,
                    strict=True,
                )
            )
        ]

    def kline_event(self, sym: int, bar: dict, event_time: int, closed: bool) -> bytes:
        """A `<symbol>@kline_1m` payload from a `MinuteBars.current` row (no `st` on klines)."""
        self.refresh()
        t = int(bar["minute"]) * MINUTE_MS
        k = {
            "t": t,
            "T": t + 59_999,
            "s": self.names[sym],
            "i": "1m",
            "f": int(bar["first_raw"]),
            "L": int(bar["last_raw"]),
            "o": self.price(int(bar["open"]), sym),
            "c": self.price(int(bar["close"]), sym),
            "h": self.price(int(bar["high"]), sym),
            "l": self.price(int(bar["low"]), sym),
            "v": self.qty(int(bar["volume"]), sym),
            "n": int(bar["trades"]),
            "x": closed,
            "q": self.quote(float(bar["quote"]), sym),
            "V": self.qty(int(bar["taker_volume"]), sym),
            "Q": self.quote(float(bar["taker_quote"]), sym),
            "B": "0",
        }
        return orjson.dumps({"e": "kline", "E": event_time, "s": self.names[sym], "k": k})

    # -------------------------------------------------------------- books

    def levels(self, prices: np.ndarray, qtys: np.ndarray, sym: int) -> list[list[str]]:
        sv = np.full(len(prices), sym)
        return [list(pq) for pq in zip(self.prices(prices, sv), self.qtys(qtys, sv), strict=True)]

    def depth_event(self, sym: int, book: Book, event_time: int, prev_update: int) -> bytes:
        self.refresh()
        body = {
            "e": "depthUpdate",
            "E": event_time,
            "T": book.time,
            "s": self.names[sym],
            "ps": self.pairs[sym],
            "U": prev_update + 1,
            "u": book.update_id,
            "pu": prev_update,
            "b": self.levels(book.bid_price, book.bid_qty, sym),
            "a": self.levels(book.ask_price, book.ask_qty, sym),
            "st": 1,
        }
        return orjson.dumps(body)

    def diff_depth_event(
        self,
        sym: int,
        changes: LevelChanges,
        event_time: int,
        transaction_time: int,
        first_id: int,
        last_id: int,
        prev_last_id: int,
    ) -> bytes:
        """A diff-depth `depthUpdate`: changed levels, prices ascending, "0" for removed ones."""
        self.refresh()
        body = {
            "e": "depthUpdate",
            "E": event_time,
            "T": transaction_time,
            "s": self.names[sym],
            "ps": self.pairs[sym],
            "U": first_id,
            "u": last_id,
            "pu": prev_last_id,
            "b": self.levels(changes.bid_price, changes.bid_qty, sym),
            "a": self.levels(changes.ask_price, changes.ask_qty, sym),
            "st": 1,
        }
        return orjson.dumps(body)

    def depth_rest(self, sym: int, book: Book, now_ms: int) -> dict:
        self.refresh()
        return {
            "lastUpdateId": book.update_id,
            "E": now_ms,
            "T": book.time,
            "bids": self.levels(book.bid_price, book.bid_qty, sym),
            "asks": self.levels(book.ask_price, book.ask_qty, sym),
        }

    def book_ticker(self, sym: int, book: Book, event_time: int) -> bytes:
        self.refresh()
        return orjson.dumps(
            {
                "e": "bookTicker",
                "u": book.update_id,
                "s": self.names[sym],
                "ps": self.pairs[sym],
                "b": self.price(int(book.bid_price[0]), sym),
                "B": self.qty(int(book.bid_qty[0]), sym),
                "a": self.price(int(book.ask_price[0]), sym),
                "A": self.qty(int(book.ask_qty[0]), sym),
                "T": book.time,
                "E": event_time,
                "st": 1,
            }
        )

    # -------------------------------------------------------------- REST aggTrades

    def rest_agg_trades(self, rows: np.ndarray, sym: int) -> bytes:
        """`GET /fapi/v1/aggTrades` body from `history.STORED_DTYPE` rows."""
        self.refresh()
        sv = np.full(len(rows), sym)
        p, q, nq = (
            self.prices(rows["price"], sv),
            self.qtys(rows["qty"], sv),
            self.qtys(rows["nq"], sv),
        )
        maker = ("false", "true")
        items = [
            f'{{"a":{a},"p":"{p[i]}","q":"{q[i]}","nq":"{nq[i]}","f":{f},"l":{lid},"T":{t},'
            f'"m":{maker[m]}}}'
            for i, (a, f, lid, t, m) in enumerate(
                zip(
                    rows["agg_id"].tolist(),
                    rows["first_id"].tolist(),
                    rows["last_id"].tolist(),
                    rows["time"].tolist(),
                    rows["buyer_maker"].tolist(),
                    strict=True,
                )
            )
        ]
        return ("[" + ",".join(items) + "]").encode()

    # -------------------------------------------------------------- raw trades

    def raw_trades(self, trades: np.ndarray, event_time: int) -> list[tuple[int, bytes]]:
        """`<s>@trade` payloads: each aggTrade's fills as raw trades, its quantity split evenly
        (at least one step each), with the aggregate's price, side and time."""
        self.refresh()
        fills = (trades["last_id"] - trades["first_id"] + 1).astype(np.int64)
        row = np.repeat(np.arange(len(trades)), fills)
        k = np.arange(len(row)) - np.repeat(np.cumsum(fills) - fills, fills)
        base, extra = trades["qty"][row] // fills[row], trades["qty"][row] % fills[row]
        qty = base + (k < extra)
        sym = trades["sym"][row]
        prices = self.prices(trades["price"][row], sym)
        qtys = self.qtys(qty, sym)
        maker = ("false", "true")
        out = []
        for i, (s, t, tid, m) in enumerate(
            zip(
                sym.tolist(),
                trades["time"][row].tolist(),
                (trades["first_id"][row] + k).tolist(),
                trades["buyer_maker"][row].tolist(),
                strict=True,
            )
        ):
            body = (
                f'{{"e":"trade","E":{event_time},"T":{t},"s":{orjson.dumps(self.names[s]).decode()},'
                f'"t":{tid},"p":"{prices[i]}","q":"{qtys[i]}","X":"MARKET","m":{maker[m]}}}'
            )
            out.append((s, body.encode()))
        return out

    # -------------------------------------------------------------- mark price and funding

    def _unit_price(self, ticks: float, sym: int) -> str:
        return f"{ticks * self.market.tick[sym]:.8f}"

    def mark_price(self, deriv: Derivatives, sym: int, event_time: int, funding_at: int) -> dict:
        """A `markPriceUpdate` (prices with 8 decimals, as Binance sends them)."""
        mark = self._unit_price(deriv.mark[sym], sym)
        return {
            "e": "markPriceUpdate",
            "E": event_time,
            "s": self.names[sym],
            "p": mark,
            "ap": mark,
            "P": self._unit_price(deriv.index[sym] * (1.0 + deriv.basis[sym] / 2), sym),
            "i": self._unit_price(deriv.index[sym], sym),
            "r": f"{deriv.funding_rate[sym]:.8f}",
            "T": funding_at,
            "st": 1,
        }

    def premium_index(self, deriv: Derivatives, sym: int, now_ms: int, funding_at: int) -> dict:
        """`GET /fapi/v1/premiumIndex` row: the same values as the markPrice stream."""
        event = self.mark_price(deriv, sym, now_ms, funding_at)
        return {
            "symbol": event["s"],
            "markPrice": event["p"],
            "indexPrice": event["i"],
            "estimatedSettlePrice": event["P"],
            "lastFundingRate": event["r"],
            "interestRate": f"{INTEREST_PER_PERIOD:.8f}",
            "nextFundingTime": funding_at,
            "time": now_ms,
        }

    def book_ticker_rest(self, sym: int, book: Book, now_ms: int) -> dict:
        self.refresh()
        return {
            "symbol": self.names[sym],
            "bidPrice": self.price(int(book.bid_price[0]), sym),
            "bidQty": self.qty(int(book.bid_qty[0]), sym),
            "askPrice": self.price(int(book.ask_price[0]), sym),
            "askQty": self.qty(int(book.ask_qty[0]), sym),
            "time": now_ms,
            "lastUpdateId": book.update_id,
        }


COIN_M_TICKER = {
    # All-market ticker arrays now carry COIN-M rows (st = 2); a screener must filter them.
    "s": "BTCUSD_PERP",
    "ps": "BTCUSD",
    "p": "-3074.5",
    "P": "-3.570",
    "w": "84473.21726735",
    "c": "83050.5",
    "Q": "118",
    "o": "86125.0",
    "h": "86650.0",
    "l": "82691.4",
    "v": "9776718",
    "q": "11573.7",
    "F": 1157488402,
    "L": 1157684367,
    "n": 195963,
}


def coin_m_row(event_time: int, *, mini: bool) -> dict:
    row = {"e": "24hrMiniTicker" if mini else "24hrTicker", "E": event_time}
    keys = ("s", "c", "o", "h", "l", "v", "q") if mini else tuple(COIN_M_TICKER)
    row |= {k: COIN_M_TICKER[k] for k in keys}
    if not mini:
        row |= {"O": event_time - DAY_MS, "C": event_time}
    row["st"] = 2
    return row
