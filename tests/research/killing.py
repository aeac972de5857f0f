"""A source whose first read of one contract-day kills the worker process running it."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.research.sources import ArchiveSource, DayTrades


@dataclass(frozen=True, slots=True)
class KillOnceSource(ArchiveSource):
    marker: str = ""  # created by the kill, so the retried task runs normally
    symbol: str = ""
    date: str = ""

    def day(self, symbol: str, day: dt.date) -> DayTrades | None:
        if symbol == self.symbol and day.isoformat() == self.date:
            marker = Path(self.marker)
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os._exit(1)  # the worker dies mid-task, as under the OOM killer
        return ArchiveSource.day(self, symbol, day)
