"""Time units in epoch milliseconds, the one clock unit of the platform (Binance's T and E)."""

from __future__ import annotations

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

_UNITS_MS = {"s": SECOND_MS, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS}


def parse_duration_ms(text: str) -> int:
    """`90m`, `2h`, `3d`, `30s` or plain seconds, in ms; ValueError names the text."""
    text = str(text).strip()
    unit = _UNITS_MS.get(text[-1:].lower())
    number = text[:-1] if unit else text
    try:
        value = float(number) * (unit or SECOND_MS)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (e.g. 90m, 2h, 3d)") from None
    if not value >= 0:
        raise ValueError(f"a duration must not be negative: {text!r}")
    return int(value)
