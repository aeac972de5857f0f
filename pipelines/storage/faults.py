"""Store faults in plain words: what went wrong with the file, for logs, the header and the CLI.

SQLite reports a full disk, a lock held by another process or a file that is not a database
as error codes; `fault_name` turns them into the short words a trader reads ("disk full"), and
`check_store` opens a store read-write once, so every command can refuse a bad file in one line
(`StoreUnavailableError`) before it starts anything.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from pipelines.storage.schema import SchemaError, StoreNotFoundError, connect

_BY_SQLITE_CODE = {
    "SQLITE_FULL": "disk full",
    "SQLITE_BUSY": "locked by another process",
    "SQLITE_LOCKED": "locked by another process",
    "SQLITE_NOTADB": "not an SQLite database",
    "SQLITE_CORRUPT": "corrupt database file",
    "SQLITE_READONLY": "read-only",
    "SQLITE_CANTOPEN": "cannot open the file",
    "SQLITE_PERM": "permission denied",
    "SQLITE_IOERR": "I/O error",
}
_BY_ERRNO = {errno.ENOSPC: "disk full", errno.EACCES: "permission denied", errno.EROFS: "read-only"}


class StoreUnavailableError(RuntimeError):
    """The store file cannot be used; the message is one line naming the file and the cause."""


def fault_name(exc: BaseException) -> str:
    """A few words for a store error ("disk full", "locked by another process", ...)."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorname", "") or ""
        # Extended codes (SQLITE_IOERR_WRITE, SQLITE_BUSY_SNAPSHOT) name their family first.
        for prefix, name in _BY_SQLITE_CODE.items():
            if code == prefix or code.startswith(prefix + "_"):
                return name
        text = str(exc).lower()
        if "disk is full" in text:
            return "disk full"
        if "locked" in text:
            return "locked by another process"
        return "database error"
    if isinstance(exc, SchemaError):
        return "unsupported schema"
    if isinstance(exc, OSError):
        return _BY_ERRNO.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    return type(exc).__name__


def describe(exc: BaseException, path: str | os.PathLike[str]) -> str:
    """One line: the file and what is wrong with it."""
    if isinstance(exc, StoreNotFoundError):
        return f"no database at {path} (pass --db PATH)"
    if isinstance(exc, SchemaError):
        return f"cannot use the store {path}: {exc}"
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    name = fault_name(exc)
    suffix = "" if detail.lower() == name.lower() else f" ({detail})"
    return f"cannot use the store {path}: {name}{suffix}"


def check_store(path: str | os.PathLike[str], busy_timeout_ms: int = 2000) -> None:
    """Open the store read-write once (creating or migrating it); StoreUnavailableError if not.

    The folder is created only when the file can be made there; a refused file is left as it
    was (SQLite writes nothing to a file it cannot read as a database).
    """
    path = Path(path)
    ancestor = next((p for p in path.parents if p.exists()), None)
    if ancestor is not None and not ancestor.is_dir():  # mkdir would say only "File exists"
        raise StoreUnavailableError(f"cannot use the store {path}: {ancestor} is not a folder")
    try:
        connect(path, busy_timeout_ms=busy_timeout_ms).close()
    except (sqlite3.Error, SchemaError, OSError) as exc:
        raise StoreUnavailableError(describe(exc, path)) from exc
