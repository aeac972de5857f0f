"""The generated archive the research tests share: 3 contracts x 4 days, one day missing."""

from __future__ import annotations

import datetime as dt

from tests.research.archive import CONTRACTS

DAYS = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(4)]
START, END = DAYS[1], DAYS[-1]  # DAYS[0] only feeds the ADV
SKIP = frozenset({("ETHUSDT", DAYS[1])})  # a contract-day without a file
SYMBOLS = [c.symbol for c in CONTRACTS]
OUTPUTS = ["profiles", "imbalance", "big-orders"]
DAY_MS = 86_400_000
