"""Mark price, index, funding and open interest of every contract, moved once a second.

* index: the spot reference, the last price less a small premium that mean-reverts (AR(1),
  a few basis points); mark: the index plus the premium's one-minute average, as Binance
  clamps the mark to the index and a moving-average basis;
* funding rate: the premium index averaged over the funding period plus the 0.01 % interest
  rate clamp, bounded to +-0.75 %; funding settles every 8 h (00:00, 08:00, 16:00 UTC); past
  funding rates are a function of (seed, contract, period);
* open interest: starts at a share of the daily volume and moves with the traded volume (part
  of it opens positions, part closes them), never below a floor.
"""

from __future__ import annotations

import numpy as np

FUNDING_PERIOD_MS = 8 * 3_600_000
INTEREST_PER_PERIOD = 0.0001
MAX_FUNDING = 0.0075
_PREMIUM_AR, _PREMIUM_SD = 0.995, 0.00004  # per second
_OI_DAYS = 0.2  # open interest starts at this many days of volume


def next_funding_time(now_ms: int) -> int:
    return (now_ms // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS


class Derivatives:
    def __init__(self, seed: int, last_price: np.ndarray, daily_volume: np.ndarray) -> None:
        self.seed = seed
        n = len(last_price)
        rng = np.random.default_rng([seed, 0xD3])
        self._rng = np.random.default_rng([seed, 0xD4])
        self.premium = rng.normal(0.0, _PREMIUM_SD * 10, n)
        self.basis = self.premium.copy()  # the premium's moving average (about a minute)
        self.index = last_price.astype(np.float64) / (1.0 + self.premium)
        self.mark = self.index * (1.0 + self.basis)
        self.funding_sum = np.zeros(n)  # premium-index seconds in this funding period
        self.funding_n = 0
        self.open_interest = np.maximum(daily_volume * _OI_DAYS * rng.uniform(0.5, 1.5, n), 1.0)
        self._oi_floor = self.open_interest * 0.3

    def add_symbol(self, price: float) -> None:
        for name, value in (
            ("premium", 0.0),
            ("basis", 0.0),
            ("index", price),
            ("mark", price),
            ("funding_sum", 0.0),
            ("open_interest", 1.0),
            ("_oi_floor", 1.0),
        ):
            setattr(self, name, np.append(getattr(self, name), value))

    def second(self, last_price: np.ndarray, traded_volume: np.ndarray, now_ms: int) -> None:
        """Advance one second: the last price is what the flow made it."""
        n = len(last_price)
        rng = self._rng
        self.premium = self.premium * _PREMIUM_AR + rng.normal(0.0, _PREMIUM_SD, n)
        self.basis += (self.premium - self.basis) / 60.0
        self.index = last_price / (1.0 + self.premium)
        self.mark = self.index * (1.0 + self.basis)
        if now_ms % FUNDING_PERIOD_MS < 1000:  # a settlement: the period starts over
            self.funding_sum[:] = 0.0
            self.funding_n = 0
        self.funding_sum += self.premium
        self.funding_n += 1
        change = traded_volume * rng.normal(0.0, 0.1, n)
        self.open_interest = np.maximum(self.open_interest + change, self._oi_floor)

    @property
    def funding_rate(self) -> np.ndarray:
        """The rate the next settlement would charge (Binance's estimate `r`)."""
        average = self.funding_sum / max(self.funding_n, 1)
        rate = average + np.clip(INTEREST_PER_PERIOD - average, -0.0005, 0.0005)
        return np.clip(rate, -MAX_FUNDING, MAX_FUNDING)

    def past_funding(self, sym: int, settlements: np.ndarray) -> np.ndarray:
        """Funding rates settled at these times (before now): a function of the period."""
        rates = np.empty(len(settlements))
        for i, t in enumerate(settlements.tolist()):
            rng = np.random.default_rng([self.seed, 0xF0, sym, t // FUNDING_PERIOD_MS])
            rates[i] = INTEREST_PER_PERIOD + rng.normal(0.0, 0.00005)
        return np.clip(rates, -MAX_FUNDING, MAX_FUNDING)
