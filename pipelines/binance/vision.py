"""data.binance.vision USD-M daily aggTrades files: where they are, and getting them verified.

BASE is the archive root: `https://data.binance.vision` (or any HTTP mirror), or a local
directory with the same layout. A day's file is

    BASE/data/futures/um/daily/aggTrades/<SYM>/<SYM>-aggTrades-<YYYY-MM-DD>.zip

next to `<file>.zip.CHECKSUM`, one line `<sha256 hex>  <file name>`. Downloads are checked
against it before they are used; a local file is checked when its CHECKSUM is there. Reading the
CSV inside (with or without a header row) is `pipelines.binance.archive.read_agg_trades_csv`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import uuid
from pathlib import Path

import aiohttp

DEFAULT_BASE = "https://data.binance.vision"
_DAILY = "data/futures/um/daily/aggTrades"
_CHUNK = 1 << 20


class ArchiveError(RuntimeError):
    """An archive file that exists but cannot be used (bad checksum, failed download)."""


def is_remote(base: str | Path) -> bool:
    return str(base).startswith(("http://", "https://"))


def day_file_name(symbol: str, day: dt.date) -> str:
    return f"{symbol}-aggTrades-{day.isoformat()}.zip"


def day_path(symbol: str, day: dt.date) -> str:
    """The file's path below BASE (also the layout of a local mirror)."""
    return f"{_DAILY}/{symbol}/{day_file_name(symbol, day)}"


def symbol_dir(base: str | Path, symbol: str) -> Path:
    return Path(base) / _DAILY / symbol


def local_symbols(base: str | Path) -> list[str]:
    """The contracts a local mirror holds (its symbol folders), sorted; none when it has no
    aggTrades folder."""
    root = Path(base) / _DAILY
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def parse_checksum(text: str, file_name: str) -> str:
    """The sha256 hex of a CHECKSUM file's text (`<hex>  <file name>`)."""
    fields = text.split()
    if not fields or len(fields[0]) != 64:
        raise ArchiveError(f"{file_name}.CHECKSUM: not a sha256 line: {text[:80]!r}")
    return fields[0].lower()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, expected_hex: str) -> None:
    got = sha256_of(path)
    if got != expected_hex:
        raise ArchiveError(
            f"{path.name}: sha256 {got[:12]}… does not match CHECKSUM {expected_hex[:12]}…"
        )


def local_day(base: str | Path, symbol: str, day: dt.date) -> Path | None:
    """A local mirror's file for the day, checked against its CHECKSUM when there; None when
    the mirror has no file for that day."""
    path = Path(base) / day_path(symbol, day)
    if not path.exists():
        return None
    checksum = path.with_name(path.name + ".CHECKSUM")
    if checksum.exists():
        verify(path, parse_checksum(checksum.read_text(), path.name))
    return path


def fetch_day(base: str | Path, symbol: str, day: dt.date, dest: Path) -> Path | None:
    """The day's file as a local path: BASE itself when local, else downloaded into `dest` (in
    the same layout) and verified; None when the archive has no file for that day (HTTP 404).
    A file already downloaded and verified is reused."""
    if not is_remote(base):
        return local_day(base, symbol, day)
    return asyncio.run(download_day(str(base), symbol, day, dest))


async def download_day(
    base: str, symbol: str, day: dt.date, dest: Path, session: aiohttp.ClientSession | None = None
) -> Path | None:
    """Download one day's zip and CHECKSUM below `dest` (see `fetch_day`)."""
    rel = day_path(symbol, day)
    target = Path(dest) / rel
    if target.exists():
        return target  # written only after its checksum matched
    url = f"{base.rstrip('/')}/{rel}"
    own = session is None
    session = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600))
    try:
        checksum = await _get_text(session, url + ".CHECKSUM")
        if checksum is None:
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            async with session.get(url) as resp:
                if resp.status == 404:
                    return None
                if resp.status != 200:
                    raise ArchiveError(f"{url}: HTTP {resp.status}")
                with tmp.open("wb") as f:
                    async for chunk in resp.content.iter_chunked(_CHUNK):
                        f.write(chunk)
            verify(tmp, parse_checksum(checksum, target.name))
            os.replace(tmp, target)  # a partial or corrupt download never takes the name
        finally:
            tmp.unlink(missing_ok=True)
        target.with_name(target.name + ".CHECKSUM").write_text(checksum)
        return target
    except aiohttp.ClientError as exc:
        raise ArchiveError(f"{url}: download failed ({exc})") from exc
    finally:
        if own:
            await session.close()


async def _get_text(session: aiohttp.ClientSession, url: str) -> str | None:
    async with session.get(url) as resp:
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise ArchiveError(f"{url}: HTTP {resp.status}")
        return await resp.text()
