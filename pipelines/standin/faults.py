"""Fault injection: the `--faults` syntax and the per-connection injector.

Faults are drawn from a generator seeded by (seed, connection serial), so a run with the same
seed and the same connection order injects the same faults. Frame faults apply to aggTrade
frames; they never change the ground truth (a skipped trade is still in REST aggTrades).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import orjson

FAULTS_HELP = """\
comma-separated NAME=VALUE list, e.g. 'drop=0.01,stall=0.005:30,malformed=0.001'.
Per connection and second: drop=R (close the TCP connection without a close frame),
stall=R[:SECONDS] (stop sending without closing, for SECONDS or forever if omitted; frames
meanwhile are lost). Per aggTrade frame: malformed=P (insert a broken frame before the real one:
truncated JSON or a wrong type), duplicate=P (send it twice), reorder=P (swap it with the next
frame), gap=P (never send it; REST aggTrades still has it). Per diff-depth event (`<s>@depth*`):
depthgap=P (never send it: the next event's pu is not the client's last u, so the client must
resync from a REST snapshot), depthreorder=P (send it after the stream's next event). Per REST
request: rest429=P (answer 429 with Retry-After: 1; a request inside that second is banned with
418)."""

_MALFORMED_KINDS = 5


@dataclass(frozen=True, slots=True)
class FaultSpec:
    drop: float = 0.0
    stall: float = 0.0
    stall_s: float = math.inf
    malformed: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    gap: float = 0.0
    depthgap: float = 0.0
    depthreorder: float = 0.0
    rest429: float = 0.0

    @classmethod
    def parse(cls, text: str | None) -> FaultSpec:
        """Parse the `--faults` syntax (see FAULTS_HELP); raises ValueError with the reason."""
        values: dict[str, float] = {}
        names = {f.name for f in fields(cls)} - {"stall_s"}
        for item in (text or "").split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, value = item.partition("=")
            name = name.strip()
            if name not in names:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(names))}")
            if not sep:
                raise ValueError(f"fault {name!r} needs a value, e.g. {name}=0.01")
            if name == "stall" and ":" in value:
                value, duration = value.split(":", 1)
                values["stall_s"] = _number(duration, "stall duration", upper=math.inf)
            per_second = name in ("drop", "stall")
            values[name] = _number(value, name, upper=math.inf if per_second else 1.0)
        return cls(**values)

    def __str__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "stall_s" or value == 0:
                continue
            text = f"{f.name}={value:g}"
            if f.name == "stall" and math.isfinite(self.stall_s):
                text += f":{self.stall_s:g}"
            parts.append(text)
        return ",".join(parts)

    @property
    def frame_faults(self) -> bool:
        return any((self.malformed, self.duplicate, self.reorder, self.gap))


def _number(text: str, what: str, *, upper: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"fault {what}: {text!r} is not a number") from None
    if not 0.0 <= value <= upper or math.isnan(value):
        raise ValueError(f"fault {what}: {value} is outside [0, {upper:g}]")
    return value


def malformed(payload: bytes, kind: int) -> bytes:
    """A broken copy of an aggTrade payload that a correct parser must reject."""
    if kind == 0:
        return payload[: len(payload) // 2]
    message = orjson.loads(payload)
    data = message.get("data", message)
    if kind == 1:
        data["a"] = str(data["a"])
    elif kind == 2:
        data["p"] = "NaN"
    elif kind == 3:
        data["m"] = "true"
    elif "data" in message:
        message["data"] = [1, 2, 3]
    else:
        message = [1, 2, 3]
    return orjson.dumps(message)


class ConnectionFaults:
    """Draws the faults of one connection."""

    def __init__(self, spec: FaultSpec, seed: int, serial: int) -> None:
        self.spec = spec
        self._rng = np.random.default_rng([seed, 0xFA17, serial])
        self.stalled_until = -1.0
        self.counts = {
            "malformed": 0,
            "duplicate": 0,
            "reorder": 0,
            "gap": 0,
            "depthgap": 0,
            "depthreorder": 0,
        }
        # Depth events held back by depthreorder, by stream: they follow the next event.
        self._held: dict[str, bytes] = {}
        # Its own generator: depth faults do not shift the aggTrade faults a seed gives.
        self._depth_rng = np.random.default_rng([seed, 0xDE97, serial])

    def connection_event(self, now_ms: int, dt_s: float) -> str | None:
        """'drop', 'stall' or None for the elapsed `dt_s`."""
        spec = self.spec
        if spec.drop and self._rng.random() < -math.expm1(-spec.drop * dt_s):
            return "drop"
        if (
            spec.stall
            and not self.stalled(now_ms)
            and (self._rng.random() < -math.expm1(-spec.stall * dt_s))
        ):
            self.stalled_until = now_ms + spec.stall_s * 1000.0
            return "stall"
        return None

    def stalled(self, now_ms: int) -> bool:
        return now_ms < self.stalled_until

    def apply(self, payloads: list[bytes]) -> list[bytes]:
        """The frames as this connection receives them (same list when nothing hits)."""
        spec = self.spec
        n = len(payloads)
        if n == 0 or not spec.frame_faults:
            return payloads
        draws = self._rng.random((4, n))
        gap = draws[0] < spec.gap
        dup = draws[1] < spec.duplicate
        bad = draws[2] < spec.malformed
        swap = draws[3] < spec.reorder
        if not (gap.any() or dup.any() or bad.any() or swap.any()):
            return payloads
        kinds = self._rng.integers(0, _MALFORMED_KINDS, n)
        out: list[bytes] = []
        for i, payload in enumerate(payloads):
            if gap[i]:
                self.counts["gap"] += 1
                continue
            if bad[i]:
                out.append(malformed(payload, int(kinds[i])))
                self.counts["malformed"] += 1
            out.append(payload)
            if dup[i]:
                out.append(payload)
                self.counts["duplicate"] += 1
        # Reorder: swap a frame with its successor (a short-window reordering).
        for j in np.flatnonzero(swap[: len(out) - 1]).tolist():
            out[j], out[j + 1] = out[j + 1], out[j]
            self.counts["reorder"] += 1
        return out

    def depth_events(self, events: list[tuple[str, bytes]]) -> list[bytes]:
        """Diff-depth events (stream, payload) as this connection receives them."""
        spec = self.spec
        if not (spec.depthgap or spec.depthreorder or self._held):
            return [payload for _, payload in events]
        draws = self._depth_rng.random((2, len(events)))
        out: list[bytes] = []
        for i, (stream, payload) in enumerate(events):
            if draws[0, i] < spec.depthgap:
                self.counts["depthgap"] += 1
                continue
            held = self._held.pop(stream, None)
            if held is None and draws[1, i] < spec.depthreorder:
                self._held[stream] = payload
                self.counts["depthreorder"] += 1
                continue
            out.append(payload)
            if held is not None:
                out.append(held)
        return out
