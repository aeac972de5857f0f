"""Where a contract-day of trades comes from: an aggTrades archive, or the store.

A source is small and picklable (a base URL or a path), so each Dask task opens what it needs
on its worker. `day(symbol, date)` gives that UTC day's trades as `TRADE_DTYPE` records in trade
order with their grid, or None when the source has no trades for it.

Archive contracts come without exchangeInfo, so their grid is inferred from the day's own
prices and quantities (`pipelines.analytics.tradeframe`: 10**-d for the most decimals seen, exact, maybe
finer than the exchange's tick); the research outputs record it per contract-day. The store
keeps each contract's exchange grid, and its recorded liquidations.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from pipelines.analytics.tradeframe import frame_records, in_trade_order
from pipelines.binance import vision
from pipelines.binance.archive import read_agg_trades_csv
from pipelines.binance.contracts import ContractSpec
from pipelines.storage.schema import SchemaError, StoreNotFoundError
from pipelines.storage.store import Store

DAY_MS = 86_400_000


class SourceError(ValueError):
    """Bad input named in one line: unknown symbol, unreadable file, bad checksum."""


@dataclass(frozen=True, slots=True)
class DayTrades:
    symbol: str
    day: dt.date
    records: np.ndarray  # TRADE_DTYPE, trade order, sym 0
    spec: ContractSpec
    grid: str = "inferred"  # "inferred" from the day's data, or "exchange" (a stored spec)
    # As Store.load_liquidations gives them; None when the source records no liquidations.
    liquidations: pd.DataFrame | None = None


class Source(Protocol):
    def day(self, symbol: str, day: dt.date) -> DayTrades | None: ...

    def check_symbol(self, symbol: str) -> None: ...

    def symbols(self) -> list[str]: ...

    @property
    def records_liquidations(self) -> bool: ...


def day_start_ms(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * DAY_MS


@dataclass(frozen=True, slots=True)
class ArchiveSource:
    """data.binance.vision daily aggTrades below `base` (URL or local mirror); downloads go to
    `cache` (default: a temporary directory per worker)."""

    base: str
    cache: str | None = None
    records_liquidations = False  # aggTrades archives hold no liquidations

    def check_symbol(self, symbol: str) -> None:
        # A local mirror says which contracts it holds; a remote one only answers per file.
        if not vision.is_remote(self.base) and not vision.symbol_dir(self.base, symbol).is_dir():
            raise SourceError(f"unknown symbol {symbol}: no {vision.symbol_dir(self.base, symbol)}")

    def symbols(self) -> list[str]:
        """Every contract of a local mirror; a remote archive cannot list its contracts."""
        if vision.is_remote(self.base):
            raise SourceError(
                f"symbols 'all' needs a local mirror or the store (--db): the remote archive "
                f"{self.base} does not list its contracts"
            )
        found = vision.local_symbols(self.base)
        if not found:
            raise SourceError(f"no contracts in {vision.symbol_dir(self.base, '')}")
        return found

    def day(self, symbol: str, day: dt.date) -> DayTrades | None:
        cache = (
            Path(self.cache) if self.cache else Path(tempfile.gettempdir()) / "orderflow-archive"
        )
        try:
            path = vision.fetch_day(self.base, symbol, day, cache)
            if path is None:
                return None
            frame = read_agg_trades_csv(path)
            spec, records = frame_records(frame, symbol=symbol)
        except (vision.ArchiveError, ValueError, OSError) as exc:
            raise SourceError(f"{symbol} {day}: {exc}") from None
        return DayTrades(symbol, day, in_trade_order(records), spec)


@dataclass(frozen=True, slots=True)
class StoreSource:
    """Trades (on the exchange grid) and liquidations recorded in the store at `db`."""

    db: str
    records_liquidations = True

    def _store(self) -> Store:
        try:
            return Store(Path(self.db))
        except (SchemaError, StoreNotFoundError, OSError) as exc:
            raise SourceError(f"store {self.db}: {exc}") from None

    def check_symbol(self, symbol: str) -> None:
        with self._store() as store:
            if symbol not in store.symbols():
                raise SourceError(f"unknown symbol {symbol}: not in the store at {self.db}")

    def symbols(self) -> list[str]:
        with self._store() as store:
            found = sorted(store.symbols())
        if not found:
            raise SourceError(f"no contracts in the store at {self.db}")
        return found

    def day(self, symbol: str, day: dt.date) -> DayTrades | None:
        start = day_start_ms(day)
        with self._store() as store:
            records, spec = store.load_trades(symbol, start, start + DAY_MS)
            liquidations = store.load_liquidations(start, start + DAY_MS, symbol=symbol)
        if len(records) == 0:
            return None
        records = records.copy()
        records["sym"] = 0
        return DayTrades(symbol, day, in_trade_order(records), spec, "exchange", liquidations)


def source_for(
    archive: str | None = None, db: str | Path | None = None, cache: str | Path | None = None
) -> Source:
    """An archive source (downloads kept in `cache`) or the store at `db`."""
    if (archive is None) == (db is None):
        raise SourceError("give exactly one source: an archive BASE or a store database")
    if archive is not None:
        return ArchiveSource(str(archive), None if cache is None else str(cache))
    return StoreSource(str(db))
