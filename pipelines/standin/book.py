"""Order books: the derived top of book every contract has, and the true book of the contracts
someone watches in full.

`derived_book` is the cheap view the trade generation implies (what is left of the touch, then
regular levels thickening by DEPTH_GROWTH); partial depth and bookTicker of unwatched contracts
show it. A `TrueBook` is materialised the first time a client subscribes to a contract's diff
depth or asks for its REST depth, and from then on holds every resting level in a band of
BOOK_LEVELS ticks each side of the touch: levels start from the derived profile with noise and
walls, takers consume them (a fill lowers its level, a sweep empties the levels it walks
through), makers add and cancel orders near and away from the touch, and the touch follows the
price the trades formed. It is never crossed.

Update ids: a step's changes take the ids (U_prev, U - 1] of the contract's counter U (see
`Market.update_id`, which grows by at least 2 per step); id U itself changes nothing. So a REST
snapshot taken between steps (lastUpdateId = U) always falls inside the next diff event's
[U, u], even when the previous event (u = U - 1) went out before the client subscribed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from pipelines.standin.order_flow import DEPTH_GROWTH

BOOK_LEVELS = 1000  # ticks each side of the touch the true book holds: the deepest REST snapshot
_WINDOW = 4 * BOOK_LEVELS + 64  # prices held in the dense arrays; recentred when the band leaves
JOURNAL_MS = 120_000  # how far back `TrueBook.at(update_id)` can rebuild the book
LEVEL_SIGMA = 0.6  # lognormal noise of fresh level sizes around the derived profile
GAP_PROB = 0.05  # share of fresh levels away from the touch that hold nothing
WALL_PROB = 0.004  # share of fresh levels that hold a wall
WALL_SIZE = (8.0, 25.0)  # a wall holds this many times the profile
MAKER_EVENTS_PER_S = 20.0  # quote changes per second of a quiet contract ...
MAKER_EVENTS_PER_TRADE = 2.0  # ... plus this many per aggTrade of its mean rate
MAKER_NEAR_SCALE = 12.0  # mean distance (levels) of near-touch quote changes
MAKER_FAR_SHARE = 0.25  # share of quote changes anywhere in the band


@dataclass(slots=True)
class Book:
    """Top levels of one contract: prices in ticks, quantities in steps, best first."""

    bid_price: np.ndarray
    bid_qty: np.ndarray
    ask_price: np.ndarray
    ask_qty: np.ndarray
    update_id: int
    time: int


@dataclass(frozen=True, slots=True)
class BookState:
    """A whole true book as of `update_id`: price ticks -> quantity steps per side."""

    bids: dict[int, int]
    asks: dict[int, int]
    update_id: int

    @property
    def best_bid(self) -> int:
        return max(self.bids)

    @property
    def best_ask(self) -> int:
        return min(self.asks)


@dataclass(slots=True)
class LevelChanges:
    """Levels whose quantity changed (new absolute quantities, 0 = removed), prices ascending."""

    bid_price: np.ndarray
    bid_qty: np.ndarray
    ask_price: np.ndarray
    ask_qty: np.ndarray

    def __bool__(self) -> bool:
        return bool(len(self.bid_price) or len(self.ask_price))


def derived_book(
    bid: int, spread: int, depth: float, pos: float, levels: int, update_id: int, now_ms: int
) -> Book:
    """The book the trade generation walks through: what is left of the touch (the fraction
    of `pos`), then full levels thickening by DEPTH_GROWTH."""
    ask = bid + spread
    frac = pos - bid
    full = np.rint(depth * (1.0 + DEPTH_GROWTH * np.arange(levels)))
    qty = np.maximum(np.vstack([full, full]), 1).astype(np.int64)
    qty[0, 0] = max(round(frac * depth), 1)
    qty[1, 0] = max(round((1.0 - frac) * depth), 1)
    offsets = np.arange(levels)
    bid_price = np.maximum(bid - offsets, 1)
    return Book(bid_price, qty[0], ask + offsets, qty[1], update_id, now_ms)


@dataclass(slots=True)
class _Sent:
    """What a diff stream of one speed last described: the book then and its last id."""

    lo: int
    bids: np.ndarray
    asks: np.ndarray
    last_u: int


class TrueBook:
    """Every resting level of one contract within BOOK_LEVELS ticks of the touch.

    Dense arrays over a window of prices starting at `lo` (index = price - lo): bids hold sizes
    at prices <= bid, asks at prices >= ask, everything else is 0.
    """

    def __init__(
        self,
        bid: int,
        spread: int,
        depth: float,
        update_id: int,
        rng: np.random.Generator,
        now_ms: int,
    ) -> None:
        self.rng = rng
        self.depth = max(float(depth), 1.0)
        self.bid, self.ask = int(bid), int(bid) + int(spread)
        self.lo = self._window_start()
        self._set_levels(np.zeros((2, _WINDOW), np.int64))
        lo_b, hi_a = self._band()
        bid_prices = np.arange(lo_b, self.bid + 1)
        ask_prices = np.arange(self.ask, hi_a + 1)
        self.bids[bid_prices - self.lo] = self._fresh(self.bid - bid_prices)
        self.asks[ask_prices - self.lo] = self._fresh(ask_prices - self.ask)
        self.update_id = int(update_id)
        self.time = now_ms
        self.born_update_id = self.update_id
        # Journal of the last JOURNAL_MS of steps: (time, last change id, prices, old qty) per
        # side, to rebuild the book as of an earlier update id.
        self._journal: deque[tuple[int, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
        self._journal = deque()
        self._before: tuple[int, np.ndarray, np.ndarray] | None = None
        self._forgotten_id = self.born_update_id - 1  # the journal lost ids up to here
        self._sent: dict[int, _Sent] = {}
        self._birth = _Sent(self.lo, self.bids.copy(), self.asks.copy(), self.born_update_id - 1)

    # -------------------------------------------------------------- shape

    def _window_start(self) -> int:
        return max(1, (self.bid + self.ask) // 2 - _WINDOW // 2)

    def _band(self) -> tuple[int, int]:
        """Lowest bid price and highest ask price the book holds."""
        return max(self.bid - BOOK_LEVELS + 1, 1), self.ask + BOOK_LEVELS - 1

    def _recentre(self) -> None:
        lo_b, hi_a = self._band()
        if lo_b >= self.lo and hi_a < self.lo + _WINDOW:
            return
        new_lo = self._window_start()
        levels = np.zeros((2, _WINDOW), np.int64)
        a, b = max(self.lo, new_lo), min(self.lo, new_lo) + _WINDOW
        if a < b:
            levels[:, a - new_lo : b - new_lo] = self.levels[:, a - self.lo : b - self.lo]
        self.lo = new_lo
        self._set_levels(levels)

    def _set_levels(self, levels: np.ndarray) -> None:
        # One (2, window) array, so maker changes on both sides take one fancy-indexed write.
        self.levels = levels
        self.bids, self.asks = levels[0], levels[1]

    def _fresh(self, distance: np.ndarray) -> np.ndarray:
        """Sizes of newly placed levels at `distance` levels from the touch: the derived profile
        with lognormal noise, some empty levels and a few walls."""
        n = len(distance)
        rng = self.rng
        profile = self.depth * (1.0 + DEPTH_GROWTH * distance)
        size = profile * np.exp(LEVEL_SIGMA * rng.standard_normal(n) - LEVEL_SIGMA**2 / 2)
        draw = rng.random(n)
        size = np.where(draw < WALL_PROB, profile * rng.uniform(*WALL_SIZE, n), size)
        size = np.where((draw > 1.0 - GAP_PROB) & (distance > 3), 0.0, size)
        return np.maximum(np.rint(size), np.where(distance > 3, 0, 1)).astype(np.int64)

    # -------------------------------------------------------------- one generation step

    def begin_step(self) -> None:
        """Remember the book before a step, for the journal."""
        self._before = (self.lo, self.bids.copy(), self.asks.copy())

    def move_touch(self, bid: int, spread: int) -> None:
        """Follow the touch the trades formed: levels that crossed it or left the band go,
        prices that entered the band get fresh levels, and the touch itself is never empty."""
        old_lo_b, old_hi_a = self._band()
        old_bid, old_ask = self.bid, self.ask
        if bid != old_bid or bid + spread != old_ask:
            self.bid, self.ask = int(bid), int(bid) + int(spread)
            self._recentre()
            lo = self.lo
            lo_b, hi_a = self._band()
            # Everything outside the new band (and across the touch) is gone.
            self.bids[: lo_b - lo] = 0
            self.bids[self.bid + 1 - lo :] = 0
            self.asks[: self.ask - lo] = 0
            self.asks[hi_a + 1 - lo :] = 0
            new_bids = np.arange(lo_b, self.bid + 1)
            new_bids = new_bids[(new_bids > old_bid) | (new_bids < old_lo_b)]
            new_asks = np.arange(self.ask, hi_a + 1)
            new_asks = new_asks[(new_asks < old_ask) | (new_asks > old_hi_a)]
            self.bids[new_bids - lo] = self._fresh(self.bid - new_bids)
            self.asks[new_asks - lo] = self._fresh(new_asks - self.ask)
        self._keep_touch()

    def _keep_touch(self) -> None:
        for side, price in ((self.bids, self.bid), (self.asks, self.ask)):
            if side[price - self.lo] <= 0:
                side[price - self.lo] = self._fresh(np.zeros(1))[0]

    def take(self, buy: bool, prices: np.ndarray, qtys: np.ndarray) -> None:
        """One taker order's fills, best price first: it empties every level it walked through
        and lowers the last one by what it took there."""
        side = self.asks if buy else self.bids
        idx = prices - self.lo
        idx = idx[(idx >= 0) & (idx < _WINDOW)]  # beyond the window: hidden liquidity
        if len(idx) == 0:
            return
        side[idx[:-1]] = 0
        if idx[-1] == prices[-1] - self.lo:
            side[idx[-1]] = max(int(side[idx[-1]]) - int(qtys[-1]), 0)
        else:
            side[idx[-1]] = 0

    def makers(self, events: int, traded: np.ndarray) -> None:
        """`events` quote changes (adds, partial and full cancels, new walls) near and away
        from the touch; prices a taker hit in this step are left alone."""
        if events <= 0:
            return
        rng = self.rng
        draws = rng.random((4, events))
        far = draws[0] < MAKER_FAR_SHARE
        distance = np.where(
            far,
            (draws[1] * BOOK_LEVELS).astype(np.int64),
            (-MAKER_NEAR_SCALE * np.log1p(-draws[1])).astype(np.int64),  # exponential
        )
        distance = np.minimum(distance, BOOK_LEVELS - 1)
        ask_side = (draws[2] < 0.5).astype(np.int64)
        price = np.where(ask_side == 1, self.ask + distance, self.bid - distance)
        keep = price >= self._band()[0]
        if len(traded):
            keep &= ~np.isin(price, traded)
        if not keep.all():
            price, ask_side, distance = price[keep], ask_side[keep], distance[keep]
        act = draws[3][keep] if len(price) < events else draws[3]
        if len(price) == 0:
            return
        idx = price - self.lo
        now = self.levels[ask_side, idx]
        fresh = self._fresh(distance)
        new = np.where(
            act < 0.45,
            now + np.maximum(np.rint(fresh * 0.4), 1),  # an order joins the level
            np.where(
                act < 0.85,
                np.rint(now * (0.2 + (act - 0.45) * 1.75)),  # 10-80 % cancelled
                np.where(act < 0.97, 0, now + fresh * 5),  # all cancelled / a wall
            ),
        ).astype(np.int64)
        # Repeated prices: the last change wins, as it would in time order.
        self.levels[ask_side, idx] = new
        self._keep_touch()

    def end_step(self, update_id: int, now_ms: int) -> None:
        """Close a step whose changes took the ids up to `update_id - 1`; journal them."""
        self.update_id = int(update_id)
        self.time = now_ms
        if self._before is not None:
            lo, bids, asks = self._before
            self._before = None
            bp = _changed(lo, bids, self.lo, self.bids)[0]
            ap = _changed(lo, asks, self.lo, self.asks)[0]
            if len(bp) or len(ap):
                old_b = _values_at(lo, bids, bp)
                old_a = _values_at(lo, asks, ap)
                self._journal.append((now_ms, self.update_id - 1, bp, old_b, ap, old_a))
        while self._journal and self._journal[0][0] < now_ms - JOURNAL_MS:
            self._forgotten_id = self._journal.popleft()[1]

    # -------------------------------------------------------------- views

    def top(self, levels: int, now_ms: int) -> Book:
        """The best `levels` non-empty levels of each side (REST depth, partial depth)."""
        bid_idx = np.flatnonzero(self.bids[: self.bid - self.lo + 1])[::-1][:levels]
        ask_idx = np.flatnonzero(self.asks)
        ask_idx = ask_idx[ask_idx >= self.ask - self.lo][:levels]
        return Book(
            bid_idx + self.lo,
            self.bids[bid_idx],
            ask_idx + self.lo,
            self.asks[ask_idx],
            self.update_id,
            self.time,
        )

    def state(self) -> BookState:
        bid_idx = np.flatnonzero(self.bids)
        ask_idx = np.flatnonzero(self.asks)
        return BookState(
            dict(zip((bid_idx + self.lo).tolist(), self.bids[bid_idx].tolist(), strict=True)),
            dict(zip((ask_idx + self.lo).tolist(), self.asks[ask_idx].tolist(), strict=True)),
            self.update_id,
        )

    def at(self, update_id: int) -> BookState:
        """The book as of `update_id` (every change with an id <= it applied), within the last
        JOURNAL_MS; raises ValueError for an id older than the journal or the book."""
        state = self.state()
        if update_id >= self.update_id - 1:
            return BookState(state.bids, state.asks, update_id)
        bids, asks = state.bids, state.asks
        if update_id < self._forgotten_id or update_id < self.born_update_id - 1:
            raise ValueError(f"update id {update_id} is older than the book's journal")
        for _, last_id, bp, old_b, ap, old_a in reversed(self._journal):
            if last_id <= update_id:
                break
            for side, prices, old in ((bids, bp, old_b), (asks, ap, old_a)):
                for p, q in zip(prices.tolist(), old.tolist(), strict=True):
                    if q:
                        side[p] = q
                    else:
                        side.pop(p, None)
        return BookState(bids, asks, update_id)

    # -------------------------------------------------------------- diff streams

    def changes_since_sent(self, speed_ms: int) -> tuple[int, LevelChanges]:
        """(pu, levels) for the next event of the `speed_ms` stream: every level that changed
        at any step since its previous event, with its quantity now (0 = removed), even if it
        came back to what the previous event said: a snapshot taken in between may hold the
        intermediate size. A stream's first event covers everything since the book's birth."""
        sent = self._sent.get(speed_ms) or self._birth
        bid_prices = [_changed(sent.lo, sent.bids, self.lo, self.bids)[0]]
        ask_prices = [_changed(sent.lo, sent.asks, self.lo, self.asks)[0]]
        if sent.last_u >= self._forgotten_id:  # the journal holds every step since
            for _, last_id, bp, _, ap, _ in reversed(self._journal):
                if last_id <= sent.last_u:
                    break
                bid_prices.append(bp)
                ask_prices.append(ap)
        else:  # older than the journal: every level held then or now
            bid_prices += [np.flatnonzero(self.bids) + self.lo, np.flatnonzero(sent.bids) + sent.lo]
            ask_prices += [np.flatnonzero(self.asks) + self.lo, np.flatnonzero(sent.asks) + sent.lo]
        bp = np.unique(np.concatenate(bid_prices))
        ap = np.unique(np.concatenate(ask_prices))
        changes = LevelChanges(
            bp, _values_at(self.lo, self.bids, bp), ap, _values_at(self.lo, self.asks, ap)
        )
        return sent.last_u, changes

    def mark_sent(self, speed_ms: int) -> int:
        """The stream of `speed_ms` described the book as it is now; returns that event's u."""
        u = self.update_id - 1
        self._sent[speed_ms] = _Sent(self.lo, self.bids.copy(), self.asks.copy(), u)
        return u


def _changed(
    old_lo: int, old: np.ndarray, new_lo: int, new: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Prices (ascending) whose quantity differs between two windows, and the new quantities."""
    if old_lo == new_lo:
        idx = np.flatnonzero(old != new)
        return idx + new_lo, new[idx]
    lo = min(old_lo, new_lo)
    a, b = np.zeros(_WINDOW * 2, np.int64), np.zeros(_WINDOW * 2, np.int64)
    span = max(old_lo, new_lo) + _WINDOW - lo
    if span > len(a):  # the windows do not overlap: compare on the union of both
        a, b = np.zeros(span, np.int64), np.zeros(span, np.int64)
    a[old_lo - lo : old_lo - lo + _WINDOW] = old
    b[new_lo - lo : new_lo - lo + _WINDOW] = new
    idx = np.flatnonzero(a != b)
    return idx + lo, b[idx]


def _values_at(lo: int, side: np.ndarray, prices: np.ndarray) -> np.ndarray:
    idx = prices - lo
    inside = (idx >= 0) & (idx < _WINDOW)
    out = np.zeros(len(prices), np.int64)
    out[inside] = side[idx[inside]]
    return out


def step_books(
    books: dict[int, TrueBook],
    *,
    order_sym: np.ndarray,
    order_buy: np.ndarray,
    order_bid: np.ndarray,
    row_order: np.ndarray,
    row_price: np.ndarray,
    row_qty: np.ndarray,
    bid: np.ndarray,
    spread: np.ndarray,
    maker_rate: np.ndarray,
    dt_s: float,
) -> None:
    """Apply one generation step to the materialised books, in the order things happened: each
    taker order (sorted by contract, then time) meets the touch where the previous one left it
    (`order_bid`, the floor of its start position) and consumes its rows; then the touch moves
    where the step left the price, and makers change quotes. Ids are closed by `end_step`."""
    row_start = np.searchsorted(row_order, np.arange(len(order_sym) + 1))
    for sym, book in books.items():
        book.begin_step()
        lo, hi = np.searchsorted(order_sym, [sym, sym + 1])
        traded: list[np.ndarray] = []
        for o in range(lo, hi):
            book.move_touch(int(order_bid[o]), int(spread[sym]))
            a, b = row_start[o], row_start[o + 1]
            book.take(bool(order_buy[o]), row_price[a:b], row_qty[a:b])
            traded.append(row_price[a:b])
        book.move_touch(int(bid[sym]), int(spread[sym]))
        events = book.rng.poisson(maker_rate[sym] * dt_s)
        book.makers(int(events), np.concatenate(traded) if traded else np.zeros(0, np.int64))
