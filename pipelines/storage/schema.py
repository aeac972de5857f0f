"""SQLite file location, connection settings and the versioned schema.

`PRAGMA user_version` holds the number of migration steps applied. Opening an older file applies
the missing steps in one transaction; a file written by newer code is refused, since this code
cannot know what the newer tables mean.

Trades, minute profiles, minute bars and signals are stored integer-coded (symbol id, price in ticks,
quantity in step units, grid in `symbols`) in WITHOUT ROWID tables clustered by symbol. Views
with the readable names (`trades`, `minute_profiles`, `minute_bars`, `candles`,
`volume_profile`, `signals`) give symbols as text and prices/quantities as exact decimals: an integer
`ticks * tick_units` divided by the power of ten `price_scale` is one correctly rounded
division, so it is the double nearest to the decimal value.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DB_FILENAME = "orderflow.db"
# SQLite's page cache per connection. It fills as pages are touched and stays resident, so a
# writer's RSS grows with the store until the cache is full (~1.2 MB a minute at 420 trades/s,
# docs/performance.md, "Soak"); large enough for every contract's hot b-tree pages.
DEFAULT_CACHE_MB = 64


class SchemaError(RuntimeError):
    """The database file cannot be used by this version of the code."""


class SchemaOutdatedError(SchemaError):
    """The file has an older schema; a read-write open migrates it."""


class StoreNotFoundError(FileNotFoundError):
    """The database file does not exist."""


@dataclass(frozen=True, slots=True)
class Migration:
    description: str
    statements: tuple[str, ...]


_V1 = (
    # One row per contract: the grid its integer-coded rows are on, and the recovery checkpoint.
    """CREATE TABLE symbols (
        id INTEGER PRIMARY KEY,
        symbol TEXT NOT NULL UNIQUE,
        tick_size TEXT NOT NULL,
        step_size TEXT NOT NULL,
        tick_units INTEGER NOT NULL,
        price_scale REAL NOT NULL,
        step_units INTEGER NOT NULL,
        qty_scale REAL NOT NULL,
        last_agg_id INTEGER,
        last_trade_time INTEGER
    )""",
    """CREATE TABLE trade_rows (
        sym_id INTEGER NOT NULL,
        agg_trade_id INTEGER NOT NULL,
        price_ticks INTEGER NOT NULL,
        qty_steps INTEGER NOT NULL,
        transact_time INTEGER NOT NULL,
        is_buyer_maker INTEGER NOT NULL,
        first_trade_id INTEGER NOT NULL,
        last_trade_id INTEGER NOT NULL,
        PRIMARY KEY (sym_id, agg_trade_id)
    ) WITHOUT ROWID""",
    """CREATE VIEW trades AS
        SELECT s.symbol AS symbol, t.agg_trade_id AS agg_trade_id,
               t.price_ticks * s.tick_units / s.price_scale AS price,
               t.qty_steps * s.step_units / s.qty_scale AS quantity,
               t.first_trade_id AS first_trade_id, t.last_trade_id AS last_trade_id,
               t.transact_time AS transact_time, t.is_buyer_maker AS is_buyer_maker
        FROM trade_rows t JOIN symbols s ON s.id = t.sym_id""",
    # bid = taker sells (is_buyer_maker), ask = taker buys; minute = its open, epoch ms.
    """CREATE TABLE minute_profile_rows (
        sym_id INTEGER NOT NULL,
        minute INTEGER NOT NULL,
        price_ticks INTEGER NOT NULL,
        bid_qty_steps INTEGER NOT NULL,
        ask_qty_steps INTEGER NOT NULL,
        bid_trades INTEGER NOT NULL,
        ask_trades INTEGER NOT NULL,
        PRIMARY KEY (sym_id, minute, price_ticks)
    ) WITHOUT ROWID""",
    """CREATE VIEW minute_profiles AS
        SELECT s.symbol AS symbol, p.minute AS minute, p.price_ticks AS price_ticks,
               p.bid_qty_steps AS bid_qty_steps, p.ask_qty_steps AS ask_qty_steps,
               p.bid_trades AS bid_trades, p.ask_trades AS ask_trades,
               p.price_ticks * s.tick_units / s.price_scale AS price,
               p.bid_qty_steps * s.step_units / s.qty_scale AS bid_qty,
               p.ask_qty_steps * s.step_units / s.qty_scale AS ask_qty
        FROM minute_profile_rows p JOIN symbols s ON s.id = p.sym_id""",
    # Running delta = taker buy - taker sell volume after each trade of the minute.
    """CREATE TABLE minute_bar_rows (
        sym_id INTEGER NOT NULL,
        minute INTEGER NOT NULL,
        open_ticks INTEGER NOT NULL,
        high_ticks INTEGER NOT NULL,
        low_ticks INTEGER NOT NULL,
        close_ticks INTEGER NOT NULL,
        first_agg_id INTEGER NOT NULL,
        last_agg_id INTEGER NOT NULL,
        trades INTEGER NOT NULL,
        bid_qty_steps INTEGER NOT NULL,
        ask_qty_steps INTEGER NOT NULL,
        delta_max_steps INTEGER NOT NULL,
        delta_min_steps INTEGER NOT NULL,
        PRIMARY KEY (sym_id, minute)
    ) WITHOUT ROWID""",
    """CREATE VIEW minute_bars AS
        SELECT s.symbol AS symbol, b.minute AS minute, b.open_ticks AS open_ticks,
               b.high_ticks AS high_ticks, b.low_ticks AS low_ticks, b.close_ticks AS close_ticks,
               b.first_agg_id AS first_agg_id, b.last_agg_id AS last_agg_id, b.trades AS trades,
               b.bid_qty_steps AS bid_qty_steps, b.ask_qty_steps AS ask_qty_steps,
               b.delta_max_steps AS delta_max_steps, b.delta_min_steps AS delta_min_steps
        FROM minute_bar_rows b JOIN symbols s ON s.id = b.sym_id""",
    # The platform's candle and volume-profile tables, at 1m, as views over the tick-level rows.
    """CREATE VIEW candles AS
        SELECT s.symbol AS symbol, b.minute AS timestamp,
               b.open_ticks * s.tick_units / s.price_scale AS open_price,
               b.high_ticks * s.tick_units / s.price_scale AS high_price,
               b.low_ticks * s.tick_units / s.price_scale AS low_price,
               b.close_ticks * s.tick_units / s.price_scale AS close_price,
               (b.bid_qty_steps + b.ask_qty_steps) * s.step_units / s.qty_scale AS volume,
               b.ask_qty_steps * s.step_units / s.qty_scale AS buy_volume,
               b.bid_qty_steps * s.step_units / s.qty_scale AS sell_volume,
               '1m' AS timeframe
        FROM minute_bar_rows b JOIN symbols s ON s.id = b.sym_id""",
    """CREATE VIEW volume_profile AS
        SELECT s.symbol AS symbol, p.minute AS timestamp,
               p.price_ticks * s.tick_units / s.price_scale AS price_level,
               p.ask_qty_steps * s.step_units / s.qty_scale AS buy_volume,
               p.bid_qty_steps * s.step_units / s.qty_scale AS sell_volume,
               (p.bid_qty_steps + p.ask_qty_steps) * s.step_units / s.qty_scale AS total_volume,
               '1m' AS timeframe
        FROM minute_profile_rows p JOIN symbols s ON s.id = p.sym_id""",
    """CREATE TABLE order_imbalances (
        id INTEGER PRIMARY KEY,
        symbol TEXT NOT NULL,
        timestamp INTEGER NOT NULL,
        bid_volume REAL NOT NULL,
        ask_volume REAL NOT NULL,
        imbalance_ratio REAL NOT NULL,
        UNIQUE (symbol, timestamp)
    )""",
    # side is the liquidation order's side: SELL closes a long, BUY closes a short.
    """CREATE TABLE liquidations (
        id INTEGER PRIMARY KEY,
        symbol TEXT NOT NULL,
        timestamp INTEGER NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
        price REAL NOT NULL,
        quantity REAL NOT NULL,
        is_forced INTEGER NOT NULL DEFAULT 1,
        notional REAL NOT NULL,
        event_time INTEGER NOT NULL,
        UNIQUE (symbol, timestamp, side, price, quantity)
    )""",
    """CREATE TABLE daily_stats (
        id INTEGER PRIMARY KEY,
        symbol TEXT NOT NULL,
        date TEXT NOT NULL,
        avg_volume REAL NOT NULL,
        total_volume REAL NOT NULL,
        UNIQUE (symbol, date)
    )""",
    """CREATE TABLE big_orders (
        id INTEGER PRIMARY KEY,
        symbol TEXT NOT NULL,
        time INTEGER NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
        quantity REAL NOT NULL,
        vwap REAL NOT NULL,
        first_price REAL NOT NULL,
        last_price REAL NOT NULL,
        fills INTEGER NOT NULL,
        trades INTEGER,
        notional REAL NOT NULL,
        adv REAL,
        pct_adv REAL,
        first_agg_id INTEGER NOT NULL,
        last_agg_id INTEGER NOT NULL,
        UNIQUE (symbol, first_agg_id)
    )""",
)

# Cross-symbol reads by time (liquidation feed, big-order feed, imbalance history).
_V2 = (
    "CREATE INDEX liquidations_by_time ON liquidations (timestamp)",
    "CREATE INDEX big_orders_by_time ON big_orders (time)",
    "CREATE INDEX order_imbalances_by_time ON order_imbalances (timestamp)",
)

# Archive files whose trades are committed: a rerun of `orderflow backfill --archive` skips them.
_V3 = (
    """CREATE TABLE imported_files (
        symbol TEXT NOT NULL,
        day TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        trades INTEGER NOT NULL,
        imported_ms INTEGER NOT NULL,
        PRIMARY KEY (symbol, day)
    )""",
)

# Order-flow signals of closed bars (pipelines.analytics.signals), integer-coded on the symbol's
# stored grid like the minute rows. Kind and side are stored by name, not by their index in
# KINDS/SIDES, so the rows keep their meaning whatever order the code lists them in; the CHECKs
# freeze the names this version knows (a new kind is a new migration). One signal per key: a
# re-submitted one is ignored.
_V4 = (
    """CREATE TABLE signal_rows (
        sym_id INTEGER NOT NULL,
        bar_time INTEGER NOT NULL,
        tf_ms INTEGER NOT NULL,
        bin_ticks INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('stacked_imbalance', 'unfinished_auction',
            'absorption', 'exhaustion', 'delta_divergence', 'naked_poc_touch')),
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell', 'high', 'low')),
        low_ticks INTEGER NOT NULL,
        high_ticks INTEGER NOT NULL,
        levels INTEGER NOT NULL,
        volume_steps INTEGER NOT NULL,
        notional_units INTEGER NOT NULL,
        strength REAL,
        PRIMARY KEY (sym_id, bar_time, tf_ms, bin_ticks, kind, side, low_ticks)
    ) WITHOUT ROWID""",
    "CREATE INDEX signal_rows_by_time ON signal_rows (bar_time)",
    # notional_units are sums of ticks x steps: one division by both scales gives the quote.
    """CREATE VIEW signals AS
        SELECT s.symbol AS symbol, g.bar_time AS bar_time, (g.tf_ms / 60000) || 'm' AS timeframe,
               g.bin_ticks AS bin_ticks, g.kind AS kind, g.side AS side,
               g.low_ticks * s.tick_units / s.price_scale AS price_low,
               g.high_ticks * s.tick_units / s.price_scale AS price_high,
               g.levels AS levels, g.volume_steps * s.step_units / s.qty_scale AS volume,
               g.notional_units * (s.tick_units * s.step_units) / (s.price_scale * s.qty_scale)
                   AS notional,
               g.strength AS strength
        FROM signal_rows g JOIN symbols s ON s.id = g.sym_id""",
)

# A local order book's history (storage/book_rows.py): per contract and second of exchange time,
# the levels changed since the second before, or the whole book (keyframe, with its grid). A
# rowid table: a keyframe's blob is several KiB, too large for WITHOUT ROWID's b-tree cells.
_V5 = (
    """CREATE TABLE book_seconds (
        symbol TEXT NOT NULL,
        time INTEGER NOT NULL,
        keyframe INTEGER NOT NULL CHECK (keyframe IN (0, 1)),
        band_low INTEGER NOT NULL,
        band_high INTEGER NOT NULL,
        tick_size TEXT,
        step_size TEXT,
        levels BLOB NOT NULL,
        PRIMARY KEY (symbol, time),
        CHECK (keyframe = 0 OR (tick_size IS NOT NULL AND step_size IS NOT NULL))
    )""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration("tick-level trades, minute profiles and bars, platform tables", _V1),
    Migration("time indexes for cross-symbol event reads", _V2),
    Migration("archive files imported", _V3),
    Migration("order-flow signals", _V4),
    Migration("order book history", _V5),
)
SCHEMA_VERSION = len(MIGRATIONS)


def default_db_path() -> Path:
    """`$XDG_DATA_HOME/orderflow/orderflow.db`, else `~/.local/share/orderflow/orderflow.db`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "orderflow" / DB_FILENAME


def connect(
    path: str | os.PathLike[str],
    *,
    readonly: bool = False,
    busy_timeout_ms: int = 5000,
    check_same_thread: bool = True,
    cache_mb: int = DEFAULT_CACHE_MB,
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, synchronous=NORMAL.

    A read-write open creates the file (and its folder) and brings the schema up to date; a
    read-only open requires an existing file at the current version. `cache_mb` bounds the
    connection's page cache (resident once filled, see DEFAULT_CACHE_MB).
    """
    if cache_mb < 1:
        raise ValueError(f"the page cache must be at least 1 MB, got {cache_mb}")
    path = Path(path)
    if readonly:
        if not path.exists():
            raise StoreNotFoundError(f"no database at {path}")
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            timeout=busy_timeout_ms / 1000,
            check_same_thread=check_same_thread,
        )
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path,
            isolation_level=None,
            timeout=busy_timeout_ms / 1000,
            check_same_thread=check_same_thread,
        )
    try:
        _configure(conn, readonly=readonly, cache_mb=cache_mb)
        if readonly:
            check_version(conn)
        else:
            migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


WAL_CHECKPOINT_PAGES = 256  # of 4 KiB: the write-ahead log is checkpointed each ~1 MiB


def _configure(conn: sqlite3.Connection, *, readonly: bool, cache_mb: int) -> None:
    if not readonly:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise SchemaError(f"the database refused WAL mode (journal_mode={mode})")
        # Checkpoint every 1 MiB of log, and cut the log back to 2 MiB after one: with the
        # default 4 MiB, a disk with less room than that fills with log the checkpoint then
        # cannot copy into the database (the disk stays full after space came back).
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit={2 * 2**20}")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute(f"PRAGMA cache_size=-{int(cache_mb) * 1024}")  # negative: KiB


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT; on any error rolled back, and the error raised as it was.

    SQLite has already rolled back after some errors (a full disk among them): a second
    ROLLBACK would raise "no transaction is active" and hide the real cause.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_version(conn: sqlite3.Connection) -> int:
    """The file's schema version; raises SchemaError unless it is the current one."""
    version = user_version(conn)
    _refuse_newer(version)
    if version < SCHEMA_VERSION:
        raise SchemaOutdatedError(
            f"the database has schema version {version} (current {SCHEMA_VERSION}); "
            "open it read-write once to migrate it"
        )
    return version


def _refuse_newer(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"the database has schema version {version}, newer than this code knows "
            f"({SCHEMA_VERSION}); upgrade orderflow or use another database file"
        )


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing migration steps up to `target` in one transaction; returns the version."""
    if not 0 <= target <= SCHEMA_VERSION:
        raise ValueError(f"target version must be within 0..{SCHEMA_VERSION}, got {target}")
    with write_transaction(conn):  # re-read the version under the write lock
        version = user_version(conn)
        _refuse_newer(version)
        for step in MIGRATIONS[version:target]:
            for statement in step.statements:
                conn.execute(statement)
        if target > version:
            conn.execute(f"PRAGMA user_version = {int(target)}")
    return max(version, target)
