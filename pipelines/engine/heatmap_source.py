"""One contract's liquidity heatmap, kept current for a view or a notebook: `HeatmapSource`.

It answers "the heatmap of this time × price window at about this many pixels" from the
engine's local book (`engine.order_books`) and trades, and decides everything a view draws:

* the time bucket (the chosen live bucket, 100 ms to 1 s, coarser as the window widens: about
  a column per pixel)
  and the tick grouping (the chosen one, coarser when the window holds more rows than pixels);
* the live edge: `sample()` takes the book as it is now (called at each refresh of a view), and
  each sample holds until the next one for at most HOLD_MS; before the samples, the book's
  seconds (memory, then the store: every stored hour) are read;
* the filters in dollars (resting level, trade), exact on integer ticks × steps;
* resting size per bucket and row (`keep`: max, so short walls survive zooming out, or last),
  best bid/ask and the verified band per bucket, trades as bubbles, the visible-range volume
  profile, and the colour limits (percentiles of the visible cells).

The book costs a websocket stream and REST snapshots, so it is held only while a view shows
it: `show()` opens it (owner: this source), `hide()` closes it. Floats are made once, in
`HeatmapFrame`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import param

from pipelines.analytics.bookhistory import book_raster
from pipelines.analytics.heatmap import (
    HISTORY_BUCKET_MS,
    LIVE_BUCKETS_MS,
    Bubbles,
    Edges,
    Profile,
    bucket_for,
    colour_limits,
    edges_per_bucket,
    filter_levels,
    group_for,
    held_states,
    min_product,
    trade_bubbles,
    volume_profile,
)
from pipelines.analytics.localbook import BookLevels
from pipelines.binance.contracts import ContractSpec
from pipelines.engine.service import Engine

RING_S = 180  # live samples kept (the last minutes at the live bucket)
HOLD_MS = 1_000  # a sample stands for the book until the next one, at most this long
PERCENTILES = {"p90": 90.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
_ids = itertools.count()


@dataclass(frozen=True, slots=True)
class Geometry:
    """A raster's grid: buckets of `bucket_ms` from `start_ms` to `end_ms`, rows of
    `ticks_per_row` ticks from `price_low` to `price_high` (ticks, inclusive)."""

    start_ms: int
    end_ms: int
    bucket_ms: int
    price_low: int
    price_high: int
    ticks_per_row: int

    @property
    def columns(self) -> int:
        return (self.end_ms - self.start_ms) // self.bucket_ms

    @property
    def rows(self) -> int:
        return (self.price_high - self.price_low) // self.ticks_per_row + 1


@dataclass(frozen=True, slots=True)
class HeatmapFrame:
    """What a view draws for one geometry, in floats (prices, quantities in base units)."""

    geometry: Geometry
    spec: ContractSpec
    bids: np.ndarray  # (rows, columns) quantity, NaN where nothing rests; row 0 = lowest price
    asks: np.ndarray
    covered: np.ndarray  # per column: a synced book was seen
    edges: Edges  # ticks (-1: none)
    bubbles: Bubbles  # integers
    profile: Profile  # of the visible time range
    clim: tuple[float, float] | None  # quantity at the colour scale's ends (None: no data)

    @property
    def empty(self) -> bool:
        return self.clim is None and len(self.bubbles.time) == 0

    @property
    def tick(self) -> float:
        return self.spec.tick

    @property
    def step(self) -> float:
        return self.spec.step

    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) of the raster: time in ms, price."""
        g, tick = self.geometry, self.spec.tick
        return (
            float(g.start_ms), g.price_low * tick, float(g.end_ms),
            (g.price_low + g.rows * g.ticks_per_row) * tick,
        )  # fmt: skip


class HeatmapSource(param.Parameterized):
    """One contract's liquidity heatmap, live."""

    engine = param.ClassSelector(class_=Engine, doc="The engine whose book and trades are read.")
    symbol = param.String(default="BTCUSDT", doc="Contract.")
    live_bucket = param.Selector(
        default=250, objects=list(LIVE_BUCKETS_MS), doc="Time bucket (ms) at the live edge."
    )
    tick_group = param.Integer(default=1, bounds=(1, None), doc="Ticks per row (at least).")
    min_order_usd = param.Number(default=0.0, bounds=(0, None), doc="Resting levels below: hidden.")
    min_trade_usd = param.Number(default=0.0, bounds=(0, None), doc="Trades below: no bubble.")
    keep = param.Selector(default="max", objects=["max", "last"], doc="A bucket's size: max/last.")
    clip = param.Selector(default="p99", objects=list(PERCENTILES), doc="Colour scale's top.")

    version = param.Integer(default=0, doc="Bumped when a sample or a setting changes the data.")
    reason = param.String(default="", doc="Why there is no book to show ('' while there is).")

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self.owner = f"heatmap-{next(_ids)}"
        self._samples: deque[tuple[int, BookLevels]] = deque()
        self._opened: str | None = None  # the contract whose book this source holds
        self._open_error = ""
        self._tasks: set[asyncio.Task] = set()
        self.param.watch(self._changed, ["live_bucket", "tick_group", "min_order_usd",
                                         "min_trade_usd", "keep", "clip"])  # fmt: skip
        self.param.watch(self._symbol_changed, "symbol")

    # ------------------------------------------------------------------ the book

    @property
    def spec(self) -> ContractSpec | None:
        registry = self.engine.registry
        return registry.spec(self.symbol) if self.symbol in registry.active else None

    async def open(self) -> None:
        """Hold the book of `symbol` (closing the one held before)."""
        symbol = self.symbol
        if self._opened == symbol:
            return
        await self.close()
        try:
            await self.engine.order_books.open(symbol, self.owner)
        except ValueError as exc:  # unknown contract, too many books: one line
            self._open_error = str(exc)
            return
        self._open_error = ""
        self._opened = symbol

    async def close(self) -> None:
        opened, self._opened = self._opened, None
        if opened is not None:
            await self.engine.order_books.close(opened, self.owner)

    def show(self) -> None:
        """Open the book now (on the running loop, the engine's)."""
        self._spawn(self.open())

    def hide(self) -> None:
        self._spawn(self.close())

    def _spawn(self, coro) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a script): nothing to keep open
            coro.close()
            return
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _symbol_changed(self, event: param.parameterized.Event) -> None:
        self._samples.clear()
        if self._opened is not None:
            self.show()
        self.version += 1

    def _changed(self, event: param.parameterized.Event) -> None:
        self.version += 1

    # ------------------------------------------------------------------ live samples

    def sample(self) -> bool:
        """Take the book as it is now; True when it brought something new."""
        view = self.engine.order_books.current(self.symbol)
        self.reason = self._reason(view)
        if view is None or not view.synced or not len(view.levels.bids) + len(view.levels.asks):
            return False
        if self._samples and self._samples[-1][0] >= view.time:
            return False
        self._samples.append((view.time, view.levels))
        cutoff = view.time - RING_S * 1000
        while self._samples and self._samples[0][0] < cutoff:
            self._samples.popleft()
        self.version += 1
        return True

    def _reason(self, view) -> str:
        if self.spec is None:
            return f"{self.symbol}: unknown contract" if self.engine.registry.active else (
                "waiting for the contract list")  # fmt: skip
        if self._open_error:
            return self._open_error
        if view is None:
            return f"{self.symbol}: no order book yet"
        if not view.synced:
            return f"{self.symbol}: syncing the order book"
        return ""

    @property
    def live_ms(self) -> int:
        """The newest time the heatmap knows (the last sample's, else the wall clock)."""
        return self._samples[-1][0] if self._samples else int(time.time() * 1000)

    def mid_ticks(self) -> int | None:
        if not self._samples:
            return None
        levels = self._samples[-1][1]
        bid, ask = levels.best_bid, levels.best_ask
        if bid is None or ask is None:
            return bid if ask is None else ask
        return (bid + ask) // 2

    # ------------------------------------------------------------------ frames

    def geometry(
        self, x_range: tuple[float, float], y_range: tuple[float, float], width: int, height: int
    ) -> Geometry | None:
        """The grid of a window (x: epoch ms, y: price) at about `width` × `height` pixels."""
        spec = self.spec
        if spec is None:
            return None
        x0, x1 = x_range
        bucket = bucket_for(x1 - x0, width, self.live_bucket)
        start = int(x0 // bucket * bucket)
        end = int(-(-x1 // bucket) * bucket)
        low_ticks = int(np.floor(y_range[0] / spec.tick))
        high_ticks = max(int(np.ceil(y_range[1] / spec.tick)), low_ticks)
        group = group_for(high_ticks - low_ticks, height, self.tick_group)
        low = low_ticks // group * group
        high = low + ((high_ticks - low) // group + 1) * group - 1  # whole rows
        return Geometry(start, max(end, start + bucket), bucket, low, high, group)

    def states(self, start_ms: int, end_ms: int, bucket_ms: int) -> list[tuple[int, BookLevels]]:
        """Book states of [start_ms, end_ms) as book_raster takes them: the stored seconds
        before the live samples, the samples (held until the next) after."""
        samples = list(self._samples)
        ring_start = samples[0][0] // bucket_ms * bucket_ms if samples else end_ms
        states: list[tuple[int, BookLevels]] = []
        if start_ms < ring_start:
            # A second's state is stamped at its end: (start, end] holds the buckets' states.
            stored, _ = self.engine.order_books.history(
                self.symbol, start_ms + 1, min(end_ms, ring_start) + 1
            )
            # Under a second, a stored second's state stands for the book until the next one.
            states = list(held_states(stored, bucket_ms, ring_start, HISTORY_BUCKET_MS)
                          if bucket_ms < HISTORY_BUCKET_MS else stored)  # fmt: skip
        if samples and ring_start < end_ms:
            states += [s for s in held_states(samples, bucket_ms, end_ms, HOLD_MS)
                       if start_ms < s[0] <= end_ms]  # fmt: skip
        least = min_product(self.min_order_usd, self.spec)
        return [(t, filter_levels(levels, least)) for t, levels in states]

    def frame(self, geometry: Geometry, visible: tuple[float, float] | None = None) -> HeatmapFrame:
        """The heatmap of `geometry`; the profile and colour limits of `visible` (x range)."""
        spec = self.spec
        assert spec is not None, "a frame needs a listed contract"
        g = geometry
        states = self.states(g.start_ms, g.end_ms, g.bucket_ms)
        raster = book_raster(states, g.start_ms, g.end_ms, g.bucket_ms, g.price_low,
                             g.price_high, g.ticks_per_row, self.keep)  # fmt: skip
        edges = edges_per_bucket(states, g.start_ms, g.bucket_ms, g.columns)
        x0, x1 = visible or (g.start_ms, g.end_ms)
        trades = self.engine.trades(self.symbol, g.start_ms, g.end_ms)
        least = min_product(self.min_trade_usd, spec)
        bubbles = trade_bubbles(trades, g.start_ms, g.bucket_ms, g.price_low, g.ticks_per_row,
                                least)  # fmt: skip
        seen = trades[(trades["time"] >= x0) & (trades["time"] < x1)]
        profile = volume_profile(seen, g.price_low, g.rows, g.ticks_per_row, least)
        c0 = max(0, int((x0 - g.start_ms) // g.bucket_ms))
        c1 = max(c0, int(-(-(x1 - g.start_ms) // g.bucket_ms)))
        limits = colour_limits(
            [raster.bids[c0:c1], raster.asks[c0:c1]], high_pct=PERCENTILES[self.clip]
        )
        step = spec.step
        return HeatmapFrame(
            geometry=g, spec=spec, bids=_quantities(raster.bids, step),
            asks=_quantities(raster.asks, step), covered=raster.covered, edges=edges,
            bubbles=bubbles, profile=profile,
            clim=None if limits is None else (limits[0] * step, limits[1] * step),
        )  # fmt: skip


def _quantities(steps: np.ndarray, step: float) -> np.ndarray:
    """Time-major steps as a (rows, columns) float image, NaN where nothing rests."""
    out = steps.T.astype(np.float64) * step
    out[steps.T == 0] = np.nan
    return out
