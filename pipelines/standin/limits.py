"""Binance's rate limits as the stand-in enforces them.

REST: request weight per IP per UTC clock minute (the window resets on the minute, measured);
beyond the budget a 429 with `Retry-After` (seconds to the next minute); a request sent inside
that Retry-After period earns a 418 ban of 2 minutes, doubling for repeat offenders up to 3 days.

Websocket: at most 10 incoming messages per second per connection (text, ping and pong frames
all count). Binance tolerated 15 back-to-back messages and closed on the 16th of 40 (measured),
so the budget is a token bucket of 15 refilled at 10 per second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipelines.binance.endpoints import (
    MAX_INCOMING_MESSAGES_PER_SECOND,
    REST_WEIGHT_LIMIT_PER_MINUTE,
)
from pipelines.records.timeunits import MINUTE_MS

WS_MESSAGE_BURST = 15
BAN_BASE_S = 120
BAN_MAX_S = 3 * 86_400


@dataclass(slots=True)
class Verdict:
    status: int  # 200, 429 or 418
    used: int  # weight used in the current minute (the X-MBX-USED-WEIGHT-1M header)
    retry_after: int = 0  # seconds
    banned_until: int = 0  # epoch ms


@dataclass(slots=True)
class _IpState:
    minute: int = -1
    used: int = 0
    retry_until: int = 0
    banned_until: int = 0
    bans: int = 0


class WeightLimiter:
    def __init__(self, limit: int = REST_WEIGHT_LIMIT_PER_MINUTE) -> None:
        self.limit = limit
        self._ips: dict[str, _IpState] = {}

    def used(self, ip: str, now_ms: int) -> int:
        state = self._ips.get(ip)
        return state.used if state and state.minute == now_ms // MINUTE_MS else 0

    def charge(self, ip: str, weight: int, now_ms: int, *, force_429: bool = False) -> Verdict:
        """Account one request; the verdict says whether to serve it."""
        state = self._ips.setdefault(ip, _IpState())
        minute = now_ms // MINUTE_MS
        if state.minute != minute:
            state.minute, state.used = minute, 0
        if now_ms < state.banned_until:
            return Verdict(
                418, state.used, _seconds(state.banned_until - now_ms), state.banned_until
            )
        if now_ms < state.retry_until:
            # Kept sending inside Retry-After: automated ban, longer for repeat offenders.
            state.bans += 1
            duration = min(BAN_BASE_S * 2 ** (state.bans - 1), BAN_MAX_S)
            state.banned_until = now_ms + duration * 1000
            state.retry_until = 0
            return Verdict(418, state.used, duration, state.banned_until)
        state.used += weight
        if state.used > self.limit:
            state.retry_until = (minute + 1) * MINUTE_MS
            return Verdict(429, state.used, _seconds(state.retry_until - now_ms))
        if force_429:
            state.retry_until = now_ms + 1000
            return Verdict(429, state.used, 1)
        return Verdict(200, state.used)


def _seconds(ms: int) -> int:
    return max(1, math.ceil(ms / 1000))


class MessageBucket:
    """Incoming-message budget of one websocket connection."""

    def __init__(
        self,
        now_ms: int,
        rate: float = MAX_INCOMING_MESSAGES_PER_SECOND,
        burst: int = WS_MESSAGE_BURST,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at = now_ms

    def take(self, now_ms: int) -> bool:
        self._tokens = min(self.burst, self._tokens + (now_ms - self._at) / 1000 * self.rate)
        self._at = now_ms
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
