"""The stand-in's generated market: trades, liquidations and books for every contract.

Generation is vectorised over all contracts per time step (`step_ms`, 50 ms by default), on a
fixed grid of steps from the start, so a seed gives the same trades whatever the scheduling jitter:

* arrivals: a discretised Hawkes process per contract (self-exciting, branching ratio `ETA`,
  decay `TAU_S`) plus rare market-wide shocks, so activity comes in bursts and clusters across
  contracts; the mean rate of each contract is its share of `rate` (BTC and ETH dominate, the
  rest follow a Zipf law);
* taker orders: side from a slowly drifting imbalance, USD size lognormal with a Pareto tail;
  large orders sweep several consecutive price levels (several aggTrades with the same `T`,
  consecutive ids, monotone prices); some orders are liquidations;
* prices: integer ticks; buys lift the ask, sells hit the bid, sweeps move the book, plus a
  random walk scaled to a realistic daily volatility.

Every generated trade is kept (`TradeHistory`) and aggregated into minute bars (`MinuteBars`);
liquidations are snapshot like `!forceOrder@arr` (the latest per contract per 1000 ms window).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from pipelines.binance.endpoints import stream_symbol
from pipelines.records.dtypes import TRADE_DTYPE
from pipelines.standin.bars import DAY_MS, MINUTE_MS, DailyBars, MinuteBars
from pipelines.standin.history import TradeHistory
from pipelines.standin.universe import (
    SETTLING,
    TRADING,
    Contract,
    build_universe,
    exchange_info,
    generated_contract,
)

ETA = 0.7  # Hawkes branching ratio: share of trades triggered by earlier trades
TAU_S = 3.0  # decay of the excitation
SHOCK_RATE_PER_S = 1 / 60  # market-wide bursts (cascades)
SHOCK_SHARE = 0.15  # share of all trades that shocks account for on average
SIZE_SIGMA = 1.3  # lognormal sigma of order notionals
TAIL_PROB, TAIL_ALPHA = 0.03, 1.3  # Pareto tail of order sizes
SWEEP_FACTOR = 25.0  # orders above this multiple of the median notional sweep levels
MAX_SWEEP_LEVELS = 12
# Rare orders sized off the contract's daily turnover, what the screener exists to catch.
WHALES_PER_S = 1 / 8  # across the whole market; not part of the synthetic daily history
WHALE_ADV_SHARE = (0.004, 0.02)  # 0.4 % to 2 % of the contract's daily notional
LIQUIDATION_PROB = 0.0015  # per order at the mean rate; scales with the burst intensity
RPI_PROB = 0.02  # share of aggTrades with RPI fills (nq < q)
_EVICT_EVERY_MS = 10_000

LIQUIDATION_DTYPE = np.dtype(
    [
        ("sym", "i4"),
        ("time", "i8"),  # T
        ("sell", "?"),  # order side SELL: a long was liquidated
        ("orig_qty", "i8"),  # q, steps
        ("price", "i8"),  # p (bankruptcy-derived order price), ticks
        ("avg_price", "f8"),  # ap, ticks (fractional)
        ("last_qty", "i8"),  # l, steps
        ("filled_qty", "i8"),  # z, steps
    ]
)


@dataclass(slots=True)
class Step:
    """What one generation step produced: trades sorted by symbol then id."""

    start_ms: int
    end_ms: int
    trades: np.ndarray  # TRADE_DTYPE, event_time = end_ms
    nq: np.ndarray  # int64 steps, quantity without RPI fills
    liquidations: np.ndarray  # LIQUIDATION_DTYPE


@dataclass(slots=True)
class Book:
    """Top levels of one contract: prices in ticks, quantities in steps, best first."""

    bid_price: np.ndarray
    bid_qty: np.ndarray
    ask_price: np.ndarray
    ask_qty: np.ndarray
    update_id: int
    time: int


def _activity_weights(n: int) -> np.ndarray:
    """BTC ~15 %, ETH ~10 %, the rest Zipf-distributed below them."""
    if n == 1:
        return np.ones(1)
    head = np.array([0.15, 0.10])[: min(n, 2)]
    rest = 1.0 / np.arange(4, n - len(head) + 4) ** 1.1
    rest = rest / rest.sum() * (1.0 - head.sum()) if len(rest) else rest
    w = np.concatenate([head, rest])
    return w / w.sum()


def _segment_exclusive_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-segment exclusive running sum; segments are consecutive runs of `counts` rows."""
    total = np.cumsum(values)
    seg_start = np.cumsum(counts) - counts
    before = np.where(seg_start > 0, total[np.maximum(seg_start - 1, 0)], 0)
    return total - values - np.repeat(before, counts)


class Market:
    def __init__(
        self,
        n_symbols: int = 600,
        rate: float = 2000.0,
        seed: int = 1,
        *,
        start_ms: int,
        step_ms: int = 50,
        contracts: list[Contract] | None = None,
        retention_s: float = 7200.0,
        max_trades: int = 10_000_000,
        whales_per_s: float = WHALES_PER_S,
    ) -> None:
        if rate < 0:
            raise ValueError(f"rate must be >= 0, got {rate}")
        if step_ms <= 0 or MINUTE_MS % step_ms:
            raise ValueError(f"step_ms must divide a minute, got {step_ms}")
        self.seed = seed
        self.rate = float(rate)
        self.whales_per_s = float(whales_per_s)
        self.step_ms = int(step_ms)
        self.start_ms = (int(start_ms) + step_ms - 1) // step_ms * step_ms
        self.time_ms = self.start_ms  # generated up to (exclusive)
        self.contracts = list(contracts) if contracts else build_universe(n_symbols, seed)
        self.status = [c.initial_status for c in self.contracts]
        self.version = 0  # bumped on every listing change
        self._index = {c.symbol: i for i, c in enumerate(self.contracts)}
        self._stream_index = {stream_symbol(c.symbol): i for i, c in enumerate(self.contracts)}
        self._rng = np.random.default_rng([seed, 1])
        self._book_rng = np.random.default_rng([seed, 2])
        self._init_state()
        setup_rng = np.random.default_rng([seed, 3])
        self.history = TradeHistory(
            len(self.contracts), retention_s=retention_s, max_trades=max_trades
        )
        self.minutes = MinuteBars(len(self.contracts))
        self.daily = DailyBars(
            self.start_ms,
            self.bid.copy(),
            self.daily_vol,
            self.agg_rate * 86_400 * self.mean_notional,
            self.agg_rate * 86_400 * self.mean_fills,
            1.0 / self.tick,
            1.0 / self.step,
            setup_rng,
        )
        self._liq_pending: list[np.ndarray] = []
        self._last_evict = self.start_ms

    # ------------------------------------------------------------------ universe

    def _init_state(self) -> None:
        n = len(self.contracts)
        rng = np.random.default_rng([self.seed, 4])
        self.active = np.array([s == TRADING for s in self.status])
        weights = _activity_weights(n) * self.active
        weights = weights / weights.sum() if weights.sum() > 0 else weights
        self.tick = np.array([c.spec.tick for c in self.contracts])
        self.step = np.array([c.spec.step for c in self.contracts])
        price = np.array([c.price for c in self.contracts])
        self.weight = weights
        self.median_notional = np.clip(
            40.0 * (weights / max(weights[weights > 0].min(), 1e-12)) ** 0.4, 20.0, 5000.0
        )
        self.bid = np.maximum(np.rint(price / self.tick), 100).astype(np.int64)
        self.anchor = self.bid.copy()
        self.spread = np.where(np.arange(n) < 50, 1, 1 + rng.poisson(0.7, n)).astype(np.int64)
        self.daily_vol = np.where(np.arange(n) < 2, 0.025, rng.uniform(0.03, 0.08, n))
        self.imbalance = np.zeros(n)
        self.excitation = np.zeros(n)
        self.next_agg = rng.integers(10**6, 10**9, n).astype(np.int64)
        self.next_raw = self.next_agg * 2 + rng.integers(0, 10**6, n)
        self.update_id = rng.integers(10**9, 10**12, n).astype(np.int64)
        self.last_price = self.bid.copy()
        self.last_qty = np.ones(n, dtype=np.int64)
        for name in (
            "agg_rate",
            "order_rate",
            "mean_notional",
            "mean_fills",
            "sigma_ticks",
            "jump",
            "mu",
        ):
            setattr(self, name, np.zeros(n))
        self._calibrate(np.arange(n))
        # Start at the stationary mean so the first seconds already run at `rate`.
        self.excitation = self.order_rate - self.mu

    def _calibrate(self, syms: np.ndarray) -> None:
        """Per-contract order rate, tick volatility and expected volumes for the target rate."""
        rng = np.random.default_rng([self.seed, 5])
        size = 20_000
        mc = self._order_shape(
            rng.standard_normal(size), rng.random(size), rng.pareto(TAIL_ALPHA, size), np.ones(size)
        )
        levels_per_order = float(mc["levels"].mean())
        per_row = mc["notional"] / mc["levels"]
        self.agg_rate[syms] = self.rate * self.weight[syms]
        self.order_rate[syms] = self.agg_rate[syms] / levels_per_order
        self.mu[syms] = self.order_rate[syms] * (1 - ETA) * (1 - SHOCK_SHARE)
        # A shock adds `jump` intensity decaying over TAU_S, amplified 1/(1-ETA) by branching.
        self.jump[syms] = (
            self.order_rate[syms] * (1 - ETA) * SHOCK_SHARE / (SHOCK_RATE_PER_S * TAU_S)
        )
        self.mean_notional[syms] = self.median_notional[syms] * per_row.mean()
        # Raw fills per aggTrade, as drawn in `_step` (median-relative notional).
        self.mean_fills[syms] = 1.3 + 0.4 * np.log1p(per_row).mean()
        orders_per_day = np.maximum(self.order_rate[syms] * 86_400, 1.0)
        self.sigma_ticks[syms] = self.daily_vol[syms] / np.sqrt(orders_per_day) * self.bid[syms]

    @staticmethod
    def _order_shape(normal, uniform, pareto, median, whale=None) -> dict[str, np.ndarray]:
        """Order notional (USD) and the number of price levels it sweeps.

        `whale` (USD, 0 for ordinary orders) overrides the drawn notional of the rare big ones.
        """
        notional = median * np.exp(SIZE_SIGMA * normal)
        notional = np.where(uniform < TAIL_PROB, notional * (1.0 + pareto), notional)
        notional = np.minimum(notional, median * 1e5)
        if whale is not None:
            notional = np.where(whale > 0, whale, notional)
        ratio = notional / (SWEEP_FACTOR * median)
        extra = np.where(ratio > 1, 1 + np.floor(np.log2(np.maximum(ratio, 1))), 0)
        levels = 1 + np.minimum(extra, MAX_SWEEP_LEVELS - 1).astype(np.int64)
        return {"notional": notional, "levels": levels}

    def index(self, symbol: str) -> int | None:
        return self._index.get(symbol)

    def stream_index(self, stream_symbol_name: str) -> int | None:
        """Index of the contract named (lowercase) in a stream name; uppercase names miss."""
        return self._stream_index.get(stream_symbol_name)

    @property
    def symbols(self) -> list[str]:
        return [c.symbol for c in self.contracts]

    def exchange_info(self, now_ms: int) -> dict:
        return exchange_info(self.contracts, self.status, now_ms)

    def list_symbol(self, symbol: str) -> Contract:
        """List a contract (TRADING from the next step); a delisted one is re-listed."""
        sym = self._index.get(symbol)
        if sym is not None:
            self.status[sym] = TRADING
            self.active[sym] = True
            if self.weight[sym] == 0:
                self._give_activity(sym)
            self.version += 1
            return self.contracts[sym]
        rng = np.random.default_rng([self.seed, zlib.crc32(symbol.encode())])
        contract = generated_contract(symbol, rng)
        sym = len(self.contracts)
        self.contracts.append(contract)
        self.status.append(TRADING)
        self.active = np.append(self.active, True)
        self._index[symbol] = sym
        self._stream_index[stream_symbol(symbol)] = sym
        bid = max(round(contract.price / contract.spec.tick), 100)
        for name, value in (
            ("tick", contract.spec.tick),
            ("step", contract.spec.step),
            ("weight", 0.0),
            ("median_notional", 40.0),
            ("bid", bid),
            ("anchor", bid),
            ("spread", 1),
            ("daily_vol", 0.06),
            ("imbalance", 0.0),
            ("excitation", 0.0),
            ("next_agg", 1),
            ("next_raw", 1),
            ("update_id", int(rng.integers(10**9, 10**12))),
            ("last_price", bid),
            ("last_qty", 1),
            ("agg_rate", 0.0),
            ("order_rate", 0.0),
            ("mean_notional", 0.0),
            ("mean_fills", 1.0),
            ("sigma_ticks", 0.0),
            ("jump", 0.0),
            ("mu", 0.0),
        ):
            setattr(self, name, np.append(getattr(self, name), value))
        self.history.add_symbol()
        self.minutes.add_symbol()
        self.daily.add_symbol(bid)
        self._give_activity(sym)
        self.version += 1
        return contract

    def _give_activity(self, sym: int) -> None:
        # A (re-)listed contract trades like a median alt.
        active = self.weight[self.weight > 0]
        self.weight[sym] = float(np.median(active)) if len(active) else 1.0
        self._calibrate(np.array([sym]))

    def delist_symbol(self, symbol: str) -> None:
        """Stop trading a contract; it stays in exchangeInfo as SETTLING."""
        sym = self._index.get(symbol)
        if sym is None:
            raise KeyError(f"unknown symbol {symbol!r}")
        self.status[sym] = SETTLING
        self.active[sym] = False
        self.version += 1

    # ------------------------------------------------------------------ generation

    def advance_to(self, now_ms: int) -> list[Step]:
        """Generate every whole step that ends at or before `now_ms`."""
        steps = []
        while self.time_ms + self.step_ms <= now_ms:
            steps.append(self._step(self.time_ms, self.time_ms + self.step_ms))
            self.time_ms += self.step_ms
        if steps and self.time_ms - self._last_evict >= _EVICT_EVERY_MS:
            self.history.evict(self.time_ms)
            self._last_evict = self.time_ms
        return steps

    def _step(self, t0: int, t1: int) -> Step:
        rng = self._rng
        n = len(self.contracts)
        dt = (t1 - t0) / 1000.0
        active = self.active
        lam = (self.mu + self.excitation) * active
        counts = rng.poisson(lam * dt)
        self.excitation *= np.exp(-dt / TAU_S)
        self.excitation += ETA / TAU_S * counts
        if rng.random() < SHOCK_RATE_PER_S * dt:
            self.excitation += self.jump * rng.exponential(1.0)
        self.imbalance = self.imbalance * 0.998 + rng.normal(0.0, 0.04, n)
        m = int(counts.sum())
        if (t1 // DAY_MS) != (t0 // DAY_MS):
            self.daily.close_day(t0 // DAY_MS, self.minutes)
        if m == 0:
            return Step(
                t0,
                t1,
                np.zeros(0, TRADE_DTYPE),
                np.zeros(0, np.int64),
                np.zeros(0, LIQUIDATION_DTYPE),
            )
        osym = np.repeat(np.arange(n), counts)
        width = t1 - t0
        offsets = np.sort(osym * width + rng.integers(0, width, m)) - osym * width
        otime = t0 + offsets
        buy = rng.random(m) < 1.0 / (1.0 + np.exp(-self.imbalance[osym]))
        burst = lam[osym] / np.maximum(self.order_rate[osym], 1e-12)
        market_rate = max(float(self.order_rate[self.active].sum()), 1e-9)
        daily_notional = self.mean_notional[osym] * self.order_rate[osym] * 86_400
        whale = np.where(
            rng.random(m) < self.whales_per_s / market_rate,
            daily_notional * rng.uniform(*WHALE_ADV_SHARE, m),
            0.0,
        )
        shape = self._order_shape(
            rng.standard_normal(m),
            rng.random(m),
            rng.pareto(TAIL_ALPHA, m),
            self.median_notional[osym],
            whale,
        )
        liquidation = rng.random(m) < np.minimum(LIQUIDATION_PROB * burst, 0.05)
        notional = np.where(liquidation, shape["notional"] * 3.0, shape["notional"])
        levels = shape["levels"] + (liquidation & (shape["levels"] == 1))
        direction = np.where(buy, 1, -1)

        # Book path per contract: the quote drifts (noise), then the order trades at it and a
        # sweep leaves the book where it stopped, so the last trade is always at the touch.
        noise = np.rint(rng.standard_normal(m) * self.sigma_ticks[osym]).astype(np.int64)
        move = direction * (levels - 1) + noise
        bid_at = self.bid[osym] + _segment_exclusive_cumsum(move, counts) + noise
        floor = np.maximum(self.anchor // 3, MAX_SWEEP_LEVELS + 2)
        bid_at = np.clip(bid_at, floor[osym], self.anchor[osym] * 3)
        self.bid = np.clip(
            self.bid + np.bincount(osym, weights=move, minlength=n).astype(np.int64),
            floor,
            self.anchor * 3,
        )

        # Expand orders into one row per swept level.
        rows = int(levels.sum())
        order_of = np.repeat(np.arange(m), levels)
        level = np.arange(rows) - np.repeat(np.cumsum(levels) - levels, levels)
        rsym = osym[order_of]
        first_price = np.where(buy, bid_at + self.spread[osym], bid_at)
        price = first_price[order_of] + direction[order_of] * level
        unit_price = bid_at * self.tick[osym]
        total_steps = np.maximum(np.rint(notional / (unit_price * self.step[osym])), levels)
        share = rng.exponential(1.0, rows)
        share /= np.bincount(order_of, weights=share, minlength=m)[order_of]
        qty = np.maximum(np.rint(share * total_steps[order_of]), 1).astype(np.int64)
        row_notional = price * self.tick[rsym] * qty * self.step[rsym]
        fills = 1 + rng.poisson(0.3 + 0.4 * np.log1p(row_notional / self.median_notional[rsym]))
        rows_per_sym = np.bincount(rsym, minlength=n)
        position = np.arange(rows) - np.repeat(np.cumsum(rows_per_sym) - rows_per_sym, rows_per_sym)
        first_raw = self.next_raw[rsym] + _segment_exclusive_cumsum(fills, rows_per_sym)

        trades = np.empty(rows, dtype=TRADE_DTYPE)
        trades["sym"] = rsym
        trades["agg_id"] = self.next_agg[rsym] + position
        trades["first_id"] = first_raw
        trades["last_id"] = first_raw + fills - 1
        trades["time"] = otime[order_of]
        trades["price"] = price
        trades["qty"] = qty
        trades["buyer_maker"] = ~buy[order_of]
        trades["event_time"] = t1
        rpi = rng.random(rows) < RPI_PROB
        nq = np.where(rpi, qty - np.rint(qty * rng.uniform(0.0, 0.5, rows)), qty).astype(np.int64)

        self.next_agg += rows_per_sym
        self.next_raw += np.bincount(rsym, weights=fills, minlength=n).astype(np.int64)
        self.update_id += rows_per_sym * 3 + active
        last_row = np.cumsum(rows_per_sym) - 1
        traded = rows_per_sym > 0
        self.last_price[traded] = price[last_row[traded]]
        self.last_qty[traded] = qty[last_row[traded]]

        liqs = self._liquidations(liquidation, order_of, trades, buy, rng)
        self.history.append(trades, nq)
        self.minutes.update(trades, row_notional)
        return Step(t0, t1, trades, nq, liqs)

    def _liquidations(
        self,
        liquidation: np.ndarray,
        order_of: np.ndarray,
        trades: np.ndarray,
        buy: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Liquidation orders are taker orders too: their fills are in the aggTrades."""
        orders = np.flatnonzero(liquidation)
        out = np.zeros(len(orders), dtype=LIQUIDATION_DTYPE)
        if len(orders) == 0:
            return out
        is_liq_row = liquidation[order_of]
        rows_order = order_of[is_liq_row]
        qty = trades["qty"][is_liq_row]
        price = trades["price"][is_liq_row].astype(np.float64)
        idx = np.searchsorted(orders, rows_order)
        filled = np.bincount(idx, weights=qty, minlength=len(orders))
        avg = np.bincount(idx, weights=qty * price, minlength=len(orders)) / filled
        last_row = np.flatnonzero(np.diff(idx, append=len(orders)))
        partial = rng.random(len(orders)) < 0.1
        out["sym"] = trades["sym"][is_liq_row][last_row]
        out["time"] = trades["time"][is_liq_row][last_row]
        out["sell"] = ~buy[orders]
        out["filled_qty"] = filled.astype(np.int64)
        out["orig_qty"] = np.where(partial, np.rint(filled * rng.uniform(1.1, 1.5)), filled)
        out["avg_price"] = avg
        out["last_qty"] = qty[last_row]
        # The bankruptcy-derived order price sits beyond the fills, against the liquidated side.
        worse = np.where(out["sell"], -1.0, 1.0) * rng.uniform(0.003, 0.012, len(orders))
        out["price"] = np.maximum(np.rint(avg * (1.0 + worse)), 1).astype(np.int64)
        self._liq_pending.append(out)
        return out

    def force_order_snapshot(self, window_end_ms: int) -> np.ndarray:
        """Latest liquidation per contract with `T` in the 1000 ms window ending here."""
        if not self._liq_pending:
            return np.zeros(0, dtype=LIQUIDATION_DTYPE)
        liqs = np.concatenate(self._liq_pending)
        due = liqs["time"] < window_end_ms
        self._liq_pending = [liqs[~due]] if (~due).any() else []
        liqs = liqs[due]
        if len(liqs) == 0:
            return liqs
        window = liqs["time"] // 1000
        order = np.lexsort((np.arange(len(liqs)), liqs["time"], liqs["sym"], window))
        liqs, window = liqs[order], window[order]
        last = np.flatnonzero(
            (np.diff(liqs["sym"], append=-1) != 0) | (np.diff(window, append=-1) != 0)
        )
        return liqs[last]

    # ------------------------------------------------------------------ books

    def book(self, sym: int, levels: int, now_ms: int) -> Book:
        """A partial book consistent with the last trade: best bid < last <= best ask, roughly."""
        rng = self._book_rng
        bid = int(self.bid[sym])
        ask = bid + int(self.spread[sym])
        gaps = 1 + (rng.random((2, levels)) < (0.0 if sym < 50 else 0.3))
        offsets = np.cumsum(gaps, axis=1) - gaps[:, :1]
        unit = self.tick[sym] * self.step[sym]
        depth = self.median_notional[sym] * 4.0 / max(bid * unit, 1e-12)
        qty = np.maximum(np.rint(depth * rng.lognormal(0.0, 1.0, (2, levels))), 1).astype(np.int64)
        bid_price = np.maximum(bid - offsets[0], 1)
        return Book(bid_price, qty[0], ask + offsets[1], qty[1], int(self.update_id[sym]), now_ms)

    # ------------------------------------------------------------------ statistics

    def ticker_24h(self, now_ms: int) -> dict[str, np.ndarray]:
        """Rolling 24 h statistics of every contract (prices in ticks, volumes in steps)."""
        win = self.minutes.window(now_ms // MINUTE_MS)
        pre = self.daily.pre_start()
        # Part of the window that lies before the start is covered by the synthetic past.
        pre_frac = np.clip((self.start_ms - (now_ms - DAY_MS)) / DAY_MS, 0.0, 1.0)
        any_live = win["any"]
        open_ = np.where(
            pre_frac > 0, pre["open"], np.where(any_live, win["open"], self.last_price)
        )
        high = np.where(any_live, win["high"], self.last_price)
        low = np.where(any_live, win["low"], self.last_price)
        if pre_frac > 0:
            high = np.maximum(high, pre["high"])
            low = np.minimum(low, pre["low"])
        count = win["trades"] + np.rint(pre["trades"] * pre_frac).astype(np.int64)
        last_id = self.next_raw - 1
        return {
            "open": open_,
            "high": high,
            "low": low,
            "last": self.last_price,
            "last_qty": self.last_qty,
            "volume": win["volume"] + np.rint(pre["volume"] * pre_frac).astype(np.int64),
            "quote": win["quote"] + pre["quote"] * pre_frac,
            "trades": count,
            "first_id": last_id - np.maximum(count, 1) + 1,
            "last_id": last_id,
            "open_time": np.full(len(self.contracts), now_ms - DAY_MS),
        }
