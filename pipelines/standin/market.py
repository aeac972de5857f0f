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
* prices: integer ticks formed by the flow. Each contract has a book of `depth` steps per
  level (MIN_DEPTH_MEDIANS median orders at least); a taker order consumes what is left at the touch and
  then whole levels, so the price moves by the order's size over the depth, and the resting
  liquidity's own lean (REST_LEAN) adds an independent move of the same size. Unwatched
  contracts show that derived book; a watched one (diff depth, REST depth) has a true book
  (book.py) that the same orders consume, step by step, and whose touch follows the price.

Every generated trade is kept (`TradeHistory`) and aggregated into minute bars (`MinuteBars`);
liquidations are snapshot like `!forceOrder@arr` (the latest per contract per 1000 ms window).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from pipelines.binance.endpoints import stream_symbol
from pipelines.records.dtypes import TRADE_DTYPE
from pipelines.records.timeunits import DAY_MS, MINUTE_MS
from pipelines.standin.bars import RING_MINUTES, DailyBars, MinuteBars
from pipelines.standin.book import (
    MAKER_EVENTS_PER_S,
    MAKER_EVENTS_PER_TRADE,
    Book,
    BookState,
    TrueBook,
    derived_book,
    step_books,
)
from pipelines.standin.history import TradeHistory
from pipelines.standin.liquidations import (
    LIQUIDATION_DTYPE,
    PendingLiquidations,
    liquidation_orders,
)
from pipelines.standin.order_flow import (
    DEPTH_GROWTH,
    ETA,
    IMBALANCE_AR,
    IMBALANCE_SD,
    LIQUIDATION_PROB,
    MAX_SWEEP_LEVELS,
    REST_LEAN,
    RPI_PROB,
    SHOCK_RATE_PER_S,
    SHOCK_SHARE,
    TAIL_ALPHA,
    TAU_S,
    WHALE_ADV_SHARE,
    WHALES_PER_S,
    activity_weights,
    book_depth,
    lean_share,
    order_notional,
    segment_exclusive_cumsum,
    walk_levels,
)
from pipelines.standin.past import ContractPast, MinuteSpans, Past, tail_suffixes
from pipelines.standin.statistics import rolling_24h
from pipelines.standin.trade_queries import query_agg_trades
from pipelines.standin.universe import (
    SETTLING,
    TRADING,
    Contract,
    build_universe,
    exchange_info,
    generated_contract,
)

_EVICT_EVERY_MS = 10_000
MAX_HISTORY_MS = 30 * DAY_MS  # the generated past: start-up builds a skeleton per contract


@dataclass(slots=True)
class Step:
    """What one generation step produced: trades sorted by symbol then id."""

    start_ms: int
    end_ms: int
    trades: np.ndarray  # TRADE_DTYPE, event_time = end_ms
    nq: np.ndarray  # int64 steps, quantity without RPI fills
    liquidations: np.ndarray  # LIQUIDATION_DTYPE


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
        history_ms: int = 0,
    ) -> None:
        if rate < 0:
            raise ValueError(f"rate must be >= 0, got {rate}")
        if not 0 <= history_ms <= MAX_HISTORY_MS:
            raise ValueError(f"history must be between 0 and 30 days, got {history_ms} ms")
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
        self.books: dict[int, TrueBook] = {}  # materialised true books (book.py)
        self._init_state()
        self.past = self._build_past(history_ms)
        # The generated past comes first: live ids continue where its ids end.
        past_agg, past_raw = self.past.totals()
        self.next_agg += past_agg
        self.next_raw += past_raw
        self.live_first_agg = self.next_agg.copy()
        self.first_ms = self.past.start_ms if self.past else self.start_ms
        setup_rng = np.random.default_rng([seed, 3])
        self.history = TradeHistory(
            len(self.contracts), retention_s=retention_s, max_trades=max_trades
        )
        self.minutes = MinuteBars(len(self.contracts))
        self.spans = MinuteSpans(self.past, self.minutes)
        first_price = (
            np.array([self.past.skeleton(s).open[0] for s in range(len(self.contracts))])
            if self.past
            else self.bid.copy()
        )
        self.past_tail = (
            tail_suffixes(self.past, len(self.contracts), min(self.past.minutes, RING_MINUTES))
            if self.past
            else None
        )
        self.daily = DailyBars(
            self.first_ms,
            first_price,
            self.daily_vol,
            self.agg_rate * 86_400 * self.mean_notional,
            self.agg_rate * 86_400 * self.mean_fills,
            1.0 / self.tick,
            1.0 / self.step,
            setup_rng,
        )
        self.liquidations = PendingLiquidations()
        self._last_evict = self.start_ms

    def _build_past(self, history_ms: int) -> Past:
        contracts = [
            ContractPast(
                start_price=int(self.bid[s]),
                agg_rate=float(self.agg_rate[s]),
                fills_per_trade=float(self.mean_fills[s]),
                qty_per_trade=float(
                    self.mean_notional[s] / (self.bid[s] * self.tick[s] * self.step[s])
                ),
                minute_vol=float(self.daily_vol[s] / np.sqrt(DAY_MS / MINUTE_MS)),
                first_agg=int(self.next_agg[s]),
                first_raw=int(self.next_raw[s]),
                unit=float(self.tick[s] * self.step[s]),
            )
            for s in range(len(self.contracts))
        ]
        return Past(self.seed, self.start_ms, history_ms, contracts)

    # ------------------------------------------------------------------ universe

    def _init_state(self) -> None:
        n = len(self.contracts)
        rng = np.random.default_rng([self.seed, 4])
        self.active = np.array([s == TRADING for s in self.status])
        weights = activity_weights(n) * self.active
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
        self.lean = np.zeros(n)
        self.excitation = np.zeros(n)
        self.next_agg = rng.integers(10**6, 10**9, n).astype(np.int64)
        self.next_raw = self.next_agg * 2 + rng.integers(0, 10**6, n)
        self.update_id = rng.integers(10**9, 10**12, n).astype(np.int64)
        self.pos = self.bid + rng.random(n)  # bid plus the part of the touch left on the bid
        self.last_price = self.bid.copy()
        self.last_qty = np.ones(n, dtype=np.int64)
        for name in (
            "agg_rate",
            "order_rate",
            "mean_notional",
            "mean_fills",
            "depth",
            "mean_walk",
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
        notional = order_notional(
            rng.standard_normal(size), rng.random(size), rng.pareto(TAIL_ALPHA, size), np.ones(size)
        )
        # Depth from the daily volatility, guessing rows per order first (it depends on it).
        steps_per_day = DAY_MS / self.step_ms
        orders_per_step = self.rate * self.weight[syms] / 1.3 * self.step_ms / 1000
        daily_levels = self.daily_vol[syms] * self.anchor[syms]
        whales_per_step = self.whales_per_s * self.weight[syms] * self.step_ms / 1000
        depth, self.mean_walk[syms] = book_depth(
            notional,
            orders_per_step,
            whales_per_step,
            daily_levels**2 / steps_per_day,
            steps_per_day,
        )
        walk = walk_levels(notional[None, :] / depth[:, None])
        rows = np.floor(rng.random(size) + walk) + 1
        levels_per_order = rows.mean(axis=1)
        per_row = (notional / rows).mean(axis=1)
        self.agg_rate[syms] = self.rate * self.weight[syms]
        self.order_rate[syms] = self.agg_rate[syms] / levels_per_order
        self.mu[syms] = self.order_rate[syms] * (1 - ETA) * (1 - SHOCK_SHARE)
        # A shock adds `jump` intensity decaying over TAU_S, amplified 1/(1-ETA) by branching.
        self.jump[syms] = (
            self.order_rate[syms] * (1 - ETA) * SHOCK_SHARE / (SHOCK_RATE_PER_S * TAU_S)
        )
        self.mean_notional[syms] = self.median_notional[syms] * per_row
        # Raw fills per aggTrade, as drawn in `_step` (median-relative notional).
        self.mean_fills[syms] = 1.3 + 0.4 * np.log1p(per_row)
        unit = self.anchor[syms] * self.tick[syms] * self.step[syms]
        self.depth[syms] = np.maximum(depth * self.median_notional[syms] / unit, 1.0)

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
            ("pos", bid + 0.5),
            ("spread", 1),
            ("daily_vol", 0.06),
            ("imbalance", 0.0),
            ("lean", 0.0),
            ("excitation", 0.0),
            ("next_agg", 1),
            ("live_first_agg", 1),
            ("next_raw", 1),
            ("update_id", int(rng.integers(10**9, 10**12))),
            ("last_price", bid),
            ("last_qty", 1),
            ("agg_rate", 0.0),
            ("order_rate", 0.0),
            ("mean_notional", 0.0),
            ("mean_fills", 1.0),
            ("depth", 1.0),
            ("mean_walk", 0.0),
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
        self.imbalance = self.imbalance * IMBALANCE_AR + rng.normal(0.0, IMBALANCE_SD, n)
        self.lean = self.lean * IMBALANCE_AR + rng.normal(0.0, IMBALANCE_SD, n)
        m = int(counts.sum())
        if (t1 // DAY_MS) != (t0 // DAY_MS):
            self.daily.close_day(t0 // DAY_MS, self.spans)
        if m == 0:
            self.update_id += 2 * active
            self._step_books(t1, dt)
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
        notional = order_notional(
            rng.standard_normal(m),
            rng.random(m),
            rng.pareto(TAIL_ALPHA, m),
            self.median_notional[osym],
            whale,
        )
        liquidation = rng.random(m) < np.minimum(LIQUIDATION_PROB * burst, 0.05)
        notional = np.where(liquidation, notional * 3.0, notional)
        # Price formation: each contract's book is a position `pos` in ticks whose integer part
        # is the best bid; the fraction says how much of the touch is left (bid queue
        # frac*depth, ask queue (1-frac)*depth), deeper levels hold `depth` steps. A taker order
        # walks `pos` by its size over the depth, so prices are the result of the flow; the
        # resting liquidity's own moves (quotes pulled/replenished) add a small independent walk.
        # The book leans first, in proportion to this step's activity.
        self.pos += REST_LEAN * lean_share(self.lean) * counts * self.mean_walk
        pos0 = self.pos[osym]
        unit = pos0 * self.tick[osym] * self.step[osym]
        want = np.maximum(np.rint(notional / np.maximum(unit, 1e-300)), 1.0)
        depth = self.depth[osym]
        walk = walk_levels(want / depth)  # beyond the cap: hidden liquidity
        signed = np.where(buy, walk, -walk)
        pos_b = pos0 + segment_exclusive_cumsum(signed, counts)
        pos_a = pos_b + signed
        lb = np.floor(pos_b)
        levels = (np.abs(np.floor(pos_a) - lb) + 1).astype(np.int64)
        net = np.bincount(osym, weights=signed, minlength=n)
        self.pos += net
        floor = np.maximum(self.anchor // 3, MAX_SWEEP_LEVELS + 2).astype(np.float64)
        self.pos = np.clip(self.pos, floor, self.anchor * 3.0)
        self.bid = np.floor(self.pos).astype(np.int64)

        # Expand orders into one row per level they reach.
        rows = int(levels.sum())
        order_of = np.repeat(np.arange(m), levels)
        level = np.arange(rows) - np.repeat(np.cumsum(levels) - levels, levels)
        rsym = osym[order_of]
        sign = np.where(buy, 1, -1)[order_of]
        row_level = lb[order_of] + sign * level  # bid-level index the row's queue sits at
        price = (row_level + np.where(buy, self.spread[osym], 0)[order_of]).astype(np.int64)
        price = np.maximum(price, 1)
        # The part of the order's walk inside the row's level, in steps: the integral of the
        # thickening depth d * (1 + DEPTH_GROWTH * distance walked) over it.
        lo_edge = np.maximum(np.minimum(pos_b, pos_a)[order_of], row_level)
        hi_edge = np.minimum(np.maximum(pos_b, pos_a)[order_of], row_level + 1)
        start = pos_b[order_of]
        walked_hi = np.abs(np.where(sign > 0, hi_edge, lo_edge) - start)
        walked_lo = np.abs(np.where(sign > 0, lo_edge, hi_edge) - start)
        cum = lambda x: x + DEPTH_GROWTH * x * x / 2  # noqa: E731
        qty = np.maximum(np.rint((cum(walked_hi) - cum(walked_lo)) * depth[order_of]), 1)
        last_row = np.cumsum(levels) - 1
        filled = np.bincount(order_of, weights=qty, minlength=m)
        qty[last_row] += np.maximum(want - filled, 0)  # the rest fills at the last level
        qty = qty.astype(np.int64)
        row_notional = price * self.tick[rsym] * qty * self.step[rsym]
        fills = 1 + rng.poisson(0.3 + 0.4 * np.log1p(row_notional / self.median_notional[rsym]))
        fills = np.minimum(fills, qty)  # every raw trade holds at least one step
        rows_per_sym = np.bincount(rsym, minlength=n)
        position = np.arange(rows) - np.repeat(np.cumsum(rows_per_sym) - rows_per_sym, rows_per_sym)
        first_raw = self.next_raw[rsym] + segment_exclusive_cumsum(fills, rows_per_sym)

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
        # At least 2 ids per step: the step's changes, then one that changes nothing (book.py).
        self.update_id += rows_per_sym * 3 + 2 * active
        last_row = np.cumsum(rows_per_sym) - 1
        traded = rows_per_sym > 0
        self.last_price[traded] = price[last_row[traded]]
        self.last_qty[traded] = qty[last_row[traded]]

        if self.books:
            orders = (osym, buy, np.floor(pos_b).astype(np.int64))
            self._step_books(t1, dt, orders, (order_of, price, qty))
        liqs = liquidation_orders(liquidation, order_of, trades, buy, rng)
        self.liquidations.add(liqs)
        self.history.append(trades, nq)
        self.minutes.update(trades, row_notional)
        return Step(t0, t1, trades, nq, liqs)

    def agg_trades(
        self,
        sym: int,
        *,
        from_id: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = 500,
    ) -> np.ndarray:
        """REST aggTrades over the generated past and the live history (`STORED_DTYPE`)."""
        return query_agg_trades(
            self.past,
            self.history,
            sym,
            first_live_agg=int(self.live_first_agg[sym]),
            live_start_ms=self.start_ms,
            from_id=from_id,
            start_time=start_time,
            end_time=end_time,
            limit=limit,
        )

    # ------------------------------------------------------------------ books

    def book(self, sym: int, levels: int, now_ms: int) -> Book:
        """The top `levels` of a contract's book: its true book once materialised, else the
        derived book the trades walk through."""
        true = self.books.get(sym)
        if true is not None:
            return true.top(levels, now_ms)
        return derived_book(
            int(self.bid[sym]),
            int(self.spread[sym]),
            float(self.depth[sym]),
            float(self.pos[sym]),
            levels,
            int(self.update_id[sym]),
            now_ms,
        )

    def open_book(self, sym: int) -> TrueBook:
        """Materialise a contract's true book (from now on every step maintains it)."""
        book = self.books.get(sym)
        if book is None:
            rng = np.random.default_rng([self.seed, 0xB00C, sym])  # not the trades' generator
            book = TrueBook(
                int(self.bid[sym]),
                int(self.spread[sym]),
                float(self.depth[sym]),
                int(self.update_id[sym]),
                rng,
                self.time_ms,
            )
            self.books[sym] = book
        return book

    def true_book(self, sym: int, update_id: int | None = None) -> BookState:
        """Ground truth: every level of a contract's true book (price ticks -> qty steps), now
        or as of `update_id` (within book.JOURNAL_MS); materialises the book if needed."""
        book = self.open_book(sym)
        return book.state() if update_id is None else book.at(update_id)

    def _step_books(
        self,
        t1: int,
        dt: float,
        orders: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        rows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        if not self.books:
            return
        empty = np.zeros(0, np.int64)
        osym, obuy, obid = orders or (empty, empty.astype(bool), empty)
        order_of, price, qty = rows or (empty, empty, empty)
        step_books(
            self.books,
            order_sym=osym,
            order_buy=obuy,
            order_bid=obid,
            row_order=order_of,
            row_price=price,
            row_qty=qty,
            bid=self.bid,
            spread=self.spread,
            maker_rate=(MAKER_EVENTS_PER_S + MAKER_EVENTS_PER_TRADE * self.agg_rate) * self.active,
            dt_s=dt,
        )
        for sym, book in self.books.items():
            book.end_step(int(self.update_id[sym]), t1)

    def force_order_snapshot(self, window_end_ms: int) -> np.ndarray:
        """Latest liquidation per contract with `T` in the 1000 ms window ending here."""
        return self.liquidations.snapshot(window_end_ms)

    def ticker_24h(self, now_ms: int) -> dict[str, np.ndarray]:
        return rolling_24h(self, now_ms)
