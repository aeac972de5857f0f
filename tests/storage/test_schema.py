import sqlite3
from pathlib import Path

import pytest

from pipelines.storage.schema import (
    DEFAULT_CACHE_MB,
    MIGRATIONS,
    SCHEMA_VERSION,
    SchemaError,
    StoreNotFoundError,
    connect,
    default_db_path,
    migrate,
    user_version,
    write_transaction,
)
from pipelines.storage.store import Store

PLATFORM_TABLES = {"order_imbalances", "liquidations", "daily_stats", "big_orders", "symbols",
                   "trade_rows", "minute_profile_rows", "minute_bar_rows", "signal_rows"}  # fmt: skip
VIEWS = {"trades", "minute_profiles", "minute_bars", "candles", "volume_profile", "signals"}


def objects(conn: sqlite3.Connection, kind: str) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = ?", (kind,))
    return {name for (name,) in rows}


def test_new_database_is_current_wal_and_complete(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "store.db"
    conn = connect(path)
    assert user_version(conn) == SCHEMA_VERSION == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert objects(conn, "table") >= PLATFORM_TABLES
    assert objects(conn, "view") == VIEWS
    columns = [row[1] for row in conn.execute("PRAGMA table_info(trades)")]
    for name in ("symbol", "agg_trade_id", "price", "quantity", "transact_time", "is_buyer_maker"):
        assert name in columns
    without_rowid = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'trade_rows'"
    ).fetchone()[0]
    assert "WITHOUT ROWID" in without_rowid
    conn.close()


def test_page_cache_is_the_size_asked(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    for cache_mb, kib in ((DEFAULT_CACHE_MB, 65536), (8, 8192)):
        conn = connect(path, cache_mb=cache_mb)
        assert conn.execute("PRAGMA cache_size").fetchone()[0] == -kib  # negative: KiB
        conn.close()
    with pytest.raises(ValueError, match="at least 1 MB, got 0"):
        connect(path, cache_mb=0)


def test_a_transaction_sqlite_already_rolled_back_raises_its_own_error(tmp_path: Path) -> None:
    conn = connect(tmp_path / "store.db")
    conn.execute("CREATE TABLE scratch (x INTEGER)")
    full = pytest.raises(sqlite3.OperationalError, match="database or disk is full")
    with full, write_transaction(conn):
        conn.execute("INSERT INTO scratch VALUES (1)")
        conn.execute("ROLLBACK")  # as SQLite does itself on SQLITE_FULL
        raise sqlite3.OperationalError("database or disk is full")
    with pytest.raises(ZeroDivisionError), write_transaction(conn):
        conn.execute("INSERT INTO scratch VALUES (2)")
        1 / 0  # noqa: B018
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM scratch").fetchone()[0] == 0
    conn.close()


def test_older_database_is_migrated_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 1
    conn.execute(
        "INSERT INTO liquidations (symbol, timestamp, side, price, quantity, notional, event_time)"
        " VALUES ('BTCUSDT', 5, 'SELL', 60000.5, 0.25, 15000.125, 6)"
    )
    assert "liquidations_by_time" not in objects(conn, "index")
    conn.close()

    with Store(path) as store:  # a reader migrates an older file once
        frame = store.load_liquidations(0, 10)
    conn = connect(path, readonly=True)
    assert user_version(conn) == SCHEMA_VERSION
    assert {"liquidations_by_time", "big_orders_by_time"} <= objects(conn, "index")
    conn.close()
    assert frame[["symbol", "side", "price", "quantity"]].values.tolist() == [
        ["BTCUSDT", "SELL", 60000.5, 0.25]
    ]


def test_newer_database_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    connect(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    raw.commit()
    raw.close()
    for opener in (
        lambda: connect(path),
        lambda: connect(path, readonly=True),
        lambda: Store(path),
    ):
        with pytest.raises(SchemaError, match="newer than this code knows"):
            opener()


def test_missing_file_for_reading(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError, match="no database"):
        Store(tmp_path / "absent.db")
    assert not (tmp_path / "absent.db").exists()


def test_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_db_path() == tmp_path / "xdg" / "orderflow" / "orderflow.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert (
        default_db_path() == tmp_path / "home" / ".local" / "share" / "orderflow" / "orderflow.db"
    )


def test_migrate_rejects_unknown_target(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    with pytest.raises(ValueError, match="target version"):
        migrate(conn, target=SCHEMA_VERSION + 1)
