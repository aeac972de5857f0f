"""Contract search as traders type it: comma-separated parts of symbols, any of them."""

from __future__ import annotations

import pandas as pd


def matches(symbols: pd.Series, pattern: str) -> pd.Series:
    """Rows whose symbol contains any of the comma-separated parts of `pattern` (any case);
    an empty pattern matches every row."""
    parts = [p.strip().upper() for p in pattern.split(",") if p.strip()]
    if not parts:
        return pd.Series(True, index=symbols.index)
    upper = symbols.str.upper()
    hit = pd.Series(False, index=symbols.index)
    for part in parts:
        hit |= upper.str.contains(part, regex=False)
    return hit
