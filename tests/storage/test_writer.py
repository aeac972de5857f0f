"""The writer: exact round trip, exactly-once, failures kept and reported, a bounded memory for a failing store."""

import math
import sqlite3
import threading
import tracemalloc
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.bigorders import TAKER_ORDER_DTYPE
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.batch import BookTop, EngineBatch
from pipelines.records.dtypes import LIQUIDATION_DTYPE
from pipelines.storage import store as store_module
from pipelines.storage.retention import HOUR_MS, Pruner, Retention
from pipelines.storage.schema import connect
from pipelines.storage.store import Store
from pipelines.storage.writer import StoreWriter
from tests.storage.synth import (
    GRIDS,
    T0,
    batch,
    decimal_price,
    decimal_qty,
    naive_minutes,
    registry,
    stored_minutes,
    symbol_ids,
)


def clock() -> int:
    return T0 + 60_000


def writer_for(path: Path, reg: SymbolRegistry | None = None, **kw) -> StoreWriter:
    kw.setdefault("commit_interval_s", 0.01)
    return StoreWriter(path, reg or registry(), clock=clock, **kw)


def counts(path: Path) -> tuple:
    conn = sqlite3.connect(path)
    out = conn.execute(
        "SELECT (SELECT count(*) FROM trade_rows), (SELECT sum(trades) FROM minute_bar_rows), "
        "(SELECT sum(bid_qty_steps + ask_qty_steps) FROM minute_profile_rows), "
        "(SELECT sum(bid_trades + ask_trades) FROM minute_profile_rows)"
    ).fetchone()
    conn.close()
    return out


def test_round_trip_gives_exact_decimals(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    reg = registry()
    batches = [batch(k) for k in range(3)]
    with writer_for(path, reg) as writer:
        for b in batches:
            writer.submit(b)
    trades = np.concatenate([b.trades for b in batches])
    conn = sqlite3.connect(path)
    view = {
        (sym, agg): (price, qty, time, bm)
        for sym, agg, price, qty, time, bm in conn.execute(
            "SELECT symbol, agg_trade_id, price, quantity, transact_time, is_buyer_maker "
            "FROM trades"
        )
    }
    assert len(view) == len(trades)
    for row in trades:
        spec = reg.spec(int(row["sym"]))
        price, qty, time, bm = view[(spec.symbol, int(row["agg_id"]))]
        # The stored double is the one nearest the decimal: its shortest repr is that decimal.
        assert Decimal(repr(price)) == decimal_price(spec, row["price"])
        assert Decimal(repr(qty)) == decimal_qty(spec, row["qty"])
        assert (time, bool(bm)) == (int(row["time"]), bool(row["buyer_maker"]))

    store = Store(path)
    for sym, tick, step in GRIDS:
        frame = store.load_trades_frame(sym, T0, T0 + 10_000)
        src = trades[trades["sym"] == reg.index(sym)]
        spec = ContractSpec(sym, tick, step)
        assert frame["agg_trade_id"].tolist() == src["agg_id"].tolist()
        assert [Decimal(repr(p)) for p in frame["price"]] == [
            decimal_price(spec, t) for t in src["price"]
        ]
        assert [Decimal(repr(q)) for q in frame["quantity"]] == [
            decimal_qty(spec, s) for s in src["qty"]
        ]
        assert frame["first_trade_id"].tolist() == src["first_id"].tolist()
        assert frame["last_trade_id"].tolist() == src["last_id"].tolist()
        assert frame["is_buyer_maker"].tolist() == src["buyer_maker"].tolist()
        records, got_spec = store.load_trades(sym, T0, T0 + 10_000)
        assert got_spec.tick_size == str(Decimal(tick).normalize())
        assert records["price"].tolist() == src["price"].tolist()
    store.close()


@pytest.mark.parametrize("fetch_rows", [7, 65_536])  # many chunks, and one
def test_time_range_is_half_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fetch_rows: int
) -> None:
    monkeypatch.setattr(store_module, "_FETCH_ROWS", fetch_rows)
    path = tmp_path / "store.db"
    with writer_for(path) as writer:
        for k in range(8):
            writer.submit(batch(k))
    src = np.concatenate([batch(k).trades for k in range(8)])
    src = src[src["sym"] == 0]
    start, end = int(src["time"][17]), int(src["time"][300])
    with Store(path) as store:
        got, _ = store.load_trades("BTCUSDT", start, end)
    want = src[(src["time"] >= start) & (src["time"] < end)]
    for field in ("agg_id", "first_id", "last_id", "time", "price", "qty", "buyer_maker"):
        assert got[field].tolist() == want[field].tolist()


def test_same_batch_twice_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    first, second = batch(0), batch(1)
    with writer_for(path) as writer:
        writer.submit(first)
        writer.submit(second)
        assert writer.flush(10)
        before = counts(path)
        writer.submit(first)
        writer.submit(second)
        doubled = EngineBatch(9, 0, trades=np.concatenate([second.trades, second.trades]))
        writer.submit(doubled)
        assert writer.flush(10)
        status = writer.status()
    assert counts(path) == before
    n = len(first.trades) + len(second.trades)
    assert before[0] == before[1] == before[3] == n
    assert before[2] == int(first.trades["qty"].sum() + second.trades["qty"].sum())
    assert status.trades_written == n
    assert status.duplicates_ignored == n + 2 * len(second.trades)


def test_overlapping_batch_adds_only_new_trades(tmp_path: Path) -> None:
    """A replay that straddles the checkpoint (old half stored, new half not)."""
    path = tmp_path / "store.db"
    reg = registry()
    b0, b1 = batch(0), batch(1)
    straddle = np.concatenate([b0.trades[b0.trades["sym"] == 1], b1.trades])
    with writer_for(path, reg) as writer:
        writer.submit(b0)
        writer.submit(EngineBatch(1, 0, trades=straddle))
    conn = connect(path)
    got = stored_minutes(conn, symbol_ids(conn), reg)
    conn.close()
    assert got == naive_minutes(np.concatenate([b0.trades, b1.trades]))


def test_hole_is_filled_once_and_history_below_the_checkpoint_once(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    reg = registry()
    trades = batch(0, per_symbol=30, n_symbols=1).trades
    hole = (trades["agg_id"] > 10) & (trades["agg_id"] <= 20)
    with writer_for(path, reg) as writer:
        writer.submit(EngineBatch(0, 0, trades=trades[~hole]))
        assert writer.flush(10)
        writer.submit(EngineBatch(1, 0, trades=trades[hole]))
        writer.submit(EngineBatch(2, 0, trades=trades[hole]))  # and its replay
    conn = connect(path)
    assert stored_minutes(conn, symbol_ids(conn), reg)[0] == naive_minutes(trades)[0]
    conn.close()

    def old(ids: list[int], hours: int) -> np.ndarray:
        rows = trades[: len(ids)].copy()
        rows["agg_id"] = ids
        rows["time"] = clock() - hours * HOUR_MS
        return rows

    def prune() -> None:
        conn = connect(path)
        Pruner(conn, Retention(), clock).run_pass()
        conn.close()

    def submit(rows: np.ndarray) -> tuple[int, int]:
        with writer_for(path, reg) as writer:
            writer.submit(EngineBatch(3, 0, trades=rows))
            assert writer.flush(10)
            return writer.status().trades_written, writer.status().stale_dropped

    # History below the checkpoint, older than the raw window (48 h): its minute has no bar, so
    # it was never counted, and it is written. Retention then prunes its rows (its minutes stay).
    history = old([-3, -2, -1], 49)
    assert submit(history) == (3, 0)
    prune()
    assert counts(path)[:2] == (30, 33)
    # Sent again: the whole bar of its minute says it is counted already.
    assert submit(history) == (0, 0)
    assert counts(path)[:2] == (30, 33)
    # A bar with a hole in its id range cannot tell: such a trade is dropped as stale.
    assert submit(old([-13, -11], 50)) == (2, 0)
    prune()
    assert submit(old([-12], 50)) == (0, 1)
    assert counts(path)[:2] == (30, 35)


def test_checkpoints_and_coverage(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    batches = [batch(k) for k in range(4)]
    with writer_for(path) as writer:
        for b in batches:
            writer.submit(b)
    trades = np.concatenate([b.trades for b in batches])
    reg = registry()
    with Store(path) as store:
        assert store.last_agg_ids() == {
            reg.symbol(i): int(trades["agg_id"][trades["sym"] == i].max()) for i in range(4)
        }
        cov = store.coverage("ETHUSDT")
        eth = trades[trades["sym"] == 1]
        assert (cov.first_trade_ms, cov.last_trade_ms) == (eth["time"].min(), eth["time"].max())
        assert cov.first_minute_ms == eth["time"].min() // 60_000 * 60_000
        assert store.trade_count() == len(trades)
        assert store.trade_count("ETHUSDT") == len(eth)
        assert store.load_registry().symbols == [g[0] for g in GRIDS]
        with pytest.raises(LookupError, match="NOPE"):
            store.coverage("NOPE")


def test_locked_database_is_retried_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    writer = writer_for(path, busy_timeout_ms=20).start()
    writer.submit(batch(0))
    assert writer.flush(10)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    writer.submit(batch(1))
    writer.submit(batch(2))
    assert not writer.flush(1.0)  # cannot commit while locked
    status = writer.status()
    assert status.retrying and status.running
    assert "locked" in status.last_error
    assert status.errors >= 1
    blocker.execute("ROLLBACK")
    blocker.close()
    assert writer.flush(10)
    assert writer.close()
    status = writer.status()
    assert not status.retrying and status.quarantined_rows == 0
    assert counts(path)[0] == 3 * len(batch(0).trades)


def test_bad_rows_are_quarantined_and_the_thread_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    reg = registry()
    good = batch(0)
    bad = batch(1).trades.copy()
    bad["sym"][:5] = 42  # not in the registry
    imbalance = pd.DataFrame(
        {"symbol": ["BTCUSDT"], "timestamp": [T0], "bid_volume": [1.0], "ask_volume": [2.0],
         "imbalance_ratio": [math.nan]}  # NOT NULL column: the row cannot be written
    )  # fmt: skip
    with writer_for(path, reg) as writer:
        writer.submit(good)
        writer.submit(EngineBatch(1, 0, trades=bad))
        writer.submit_imbalances(imbalance)
        assert writer.flush(10)
        writer.submit(batch(2))
        assert writer.flush(10)
        status = writer.status()
        quarantined = writer.quarantined()
    assert status.running
    assert status.quarantined_items == 2
    assert status.quarantined_rows == 5 + 1
    assert status.errors >= 1 and "NOT NULL" in status.last_error
    assert quarantined[0].data["sym"].tolist() == [42] * 5
    assert counts(path)[0] == 3 * len(good.trades) - 5


def test_submit_never_refuses_and_owes_what_passes_the_memory_bound(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    per = len(batch(0).trades)
    writer = writer_for(path, max_owed_rows=3 * per)  # not started: nothing is written yet
    batches = [batch(k) for k in range(8)]
    for b in batches:
        writer.submit(b)  # never blocks, never refuses
    status = writer.status()
    assert status.waiting_rows == 3 * per  # the first three batches are held
    # The other five are owed as one id range per symbol, exactly their ids.
    late = np.concatenate([b.trades for b in batches[3:]])
    expected = [
        (
            s,
            int(late["agg_id"][late["sym"] == s].min()),
            int(late["agg_id"][late["sym"] == s].max()),
        )
        for s in range(len(GRIDS))
    ]
    assert [tuple(r) for r in writer.owed()] == expected
    assert status.owed_trades == len(late)
    writer.start()
    assert writer.flush(10)
    assert counts(path)[0] == 3 * per
    for r in writer.take_owed():  # what a REST backfill brings: the owed trades, and a repeat
        owed = late[
            (late["sym"] == r.sym) & (late["agg_id"] >= r.first) & (late["agg_id"] <= r.last)
        ]
        writer.submit(EngineBatch(0, 0, trades=owed))
        assert writer.flush(10)  # as the engine's backfill does: within the bound
    writer.submit(batches[0])
    assert writer.flush(10)
    assert writer.close()
    assert counts(path)[0] == 8 * per
    assert writer.status().waiting_rows == 0 and writer.status().owed_trades == 0
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(batch(9))


def test_a_full_disk_is_named_retried_and_nothing_is_lost(tmp_path: Path, caplog) -> None:
    path = tmp_path / "store.db"
    writer = writer_for(path).start()
    writer.submit(batch(0, per_symbol=200))
    assert writer.flush(10)
    # SQLite answers SQLITE_FULL at max_page_count exactly as on a full disk.
    pages = writer._conn.execute("PRAGMA page_count").fetchone()[0]
    writer._conn.execute(f"PRAGMA max_page_count = {pages}")
    for k in range(1, 6):
        writer.submit(batch(k, per_symbol=200))
    assert not writer.flush(1.0)
    status = writer.status()
    assert status.fault == "disk full" and status.retrying
    assert status.waiting_rows == 5 * 200 * len(GRIDS)
    assert "database or disk is full" in status.last_error  # the cause, not a failed ROLLBACK
    assert any("store disk full" in r.getMessage() for r in caplog.records)
    writer._conn.execute("PRAGMA max_page_count = 1073741823")
    assert writer.flush(10)
    assert writer.status().fault is None
    assert writer.close()
    assert counts(path)[0] == 6 * 200 * len(GRIDS)


def test_rows_waiting_on_a_locked_store_do_not_keep_their_batches_books(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    writer = writer_for(path, busy_timeout_ms=20).start()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # nothing can be written: every batch waits
    levels = [f"{p}.5" for p in range(20_000)]  # two 160 kB level lists a book
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for k in range(40):  # ~13 MB of books in all
        item = batch(k)
        item.books = [BookTop(sym=0, event_time=k, bids=list(levels), asks=list(levels))]
        writer.submit(item)
    del item
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert writer.status().waiting_rows == 40 * len(batch(0).trades)
    assert held < 5_000_000  # the trade rows, not the books
    blocker.execute("ROLLBACK")
    blocker.close()
    assert writer.close()
    assert counts(path)[0] == 40 * len(batch(0).trades)


def test_what_a_failing_store_is_owed_at_close_is_recorded_for_the_next_writer(
    tmp_path: Path, caplog
) -> None:
    path = tmp_path / "store.db"
    per = len(batch(0).trades)
    writer = writer_for(path, max_owed_rows=2 * per).start()
    writer.submit(batch(0))
    assert writer.flush(10)
    pages = writer._conn.execute("PRAGMA page_count").fetchone()[0]
    writer._conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL from here on
    late = [batch(k) for k in range(1, 6)]
    for b in late:
        writer.submit(b)  # two held in memory, three owed by id range
    assert not writer.close(timeout=1.0)  # gives up: nothing after batch 0 is written
    trades = np.concatenate([b.trades for b in late])
    expected = [
        (s, int(trades["agg_id"][trades["sym"] == s].min()),
         int(trades["agg_id"][trades["sym"] == s].max()))
        for s in range(len(GRIDS))
    ]  # fmt: skip
    assert writer.status().waiting_rows == 0  # the held trades are owed too, not lost
    assert counts(path)[0] == per
    assert any("recorded in" in r.getMessage() for r in caplog.records)

    reg = registry()
    again = writer_for(path, reg)
    assert [tuple(r) for r in again.owed()] == expected
    assert again.close() is False  # still owed (nothing backfilled it): recorded again
    assert [tuple(r) for r in writer_for(path, reg).owed()] == expected


def test_a_bad_owed_file_is_named_in_one_line(tmp_path: Path, caplog) -> None:
    path = tmp_path / "store.db"
    (tmp_path / "store.db.owed.json").write_text("[1, 2")
    writer = writer_for(path)
    assert writer.owed() == []
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"owed ranges not read ({path}.owed.json: not a file of owed ranges): "
        "a backfill of them will not happen"
    ]
    writer.close()


def test_close_drains_the_queue(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    writer = writer_for(path, commit_interval_s=5.0)
    for k in range(40):
        writer.submit(batch(k, per_symbol=20))
    writer.start()
    assert writer.close(timeout=30)
    assert counts(path)[0] == 40 * 20 * 4


def test_liquidations_big_orders_and_stats(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    reg = registry()
    liq = np.zeros(4, dtype=LIQUIDATION_DTYPE)
    liq["sym"] = [0, 1, 0, 3]
    liq["time"] = T0 + np.arange(4) * 1000
    liq["long_liquidated"] = [True, False, True, False]
    liq["price"] = [60000.5, 3000.25, 59990.0, 2400.125]
    liq["qty"] = [0.5, 2.0, 0.001, 1.0]
    liq["notional"] = liq["price"] * liq["qty"]
    orders = pd.DataFrame(
        {"sym": [0, 1], "time": [T0, T0 + 5], "side": ["BUY", "sell"], "quantity": [12.5, 300.0],
         "vwap": [60001.2, 3000.1], "first_price": [60000.0, 3000.5], "last_price": [60002.0, 2999.0],
         "fills": [40, 12], "notional": [750015.0, 900030.0], "pct_adv": [0.61, None],
         "first_agg_id": [100, 200], "last_agg_id": [140, 212]}
    )  # fmt: skip
    detected = np.zeros(1, dtype=TAKER_ORDER_DTYPE)  # the detector's own layout
    detected[0] = (
        3,
        T0 + 150,
        False,
        3.5,
        2400.0,
        2400.5,
        2399.5,
        4,
        9,
        8400.0,
        2.5e8,
        0.0034,
        7,
        10,
    )
    with writer_for(path, reg) as writer:
        writer.submit_big_orders(detected)
        for _ in range(2):  # replays are ignored
            writer.submit(EngineBatch(0, 0, liquidations=liq))
            writer.submit_big_orders(orders)
        with pytest.raises(ValueError, match="lack the columns"):
            writer.submit_big_orders(orders.drop(columns=["vwap"]))
        with pytest.raises(ValueError, match="BUY or SELL"):
            writer.submit_big_orders(orders.assign(side=["BUY", "HOLD"]))
    with Store(path) as store:
        got = store.load_liquidations(T0, T0 + 10_000, min_notional=1000)
        keep = liq["notional"] >= 1000
        assert got["symbol"].tolist() == [reg.symbol(i) for i in liq["sym"][keep]]
        assert got["side"].tolist() == [
            "SELL" if x else "BUY" for x in liq["long_liquidated"][keep]
        ]
        assert got["price"].tolist() == liq["price"][keep].tolist()
        assert got["notional"].tolist() == liq["notional"][keep].tolist()
        assert len(store.load_liquidations(T0, T0 + 10_000)) == 4
        big = store.load_big_orders(T0, T0 + 10)
        assert big["symbol"].tolist() == ["BTCUSDT", "ETHUSDT"]
        assert big["side"].tolist() == ["BUY", "SELL"]
        assert big["fills"].tolist() == [40, 12]
        assert big["pct_adv"].iloc[0] == 0.61 and pd.isna(big["pct_adv"].iloc[1])
        detected = store.load_big_orders(T0 + 100, T0 + 200)
    assert detected["side"].tolist() == ["SELL"]
    assert detected[["symbol", "quantity", "trades", "adv", "first_agg_id"]].values.tolist() == [
        ["XAUUSDT", 3.5, 9, 2.5e8, 7]
    ]


def test_grid_change_rescales_stored_rows_exactly(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    old = SymbolRegistry([ContractSpec("BTCUSDT", "0.1", "0.001")])
    new = SymbolRegistry([ContractSpec("BTCUSDT", "0.25", "0.01")])
    a = batch(0, per_symbol=40, n_symbols=1).trades
    b = batch(1, per_symbol=40, n_symbols=1).trades
    with writer_for(path, old) as writer:
        writer.submit(EngineBatch(0, 0, trades=a))
    with writer_for(path, new) as writer:
        writer.submit(EngineBatch(1, 0, trades=b))
    want = {int(r["agg_id"]): (decimal_price(old.spec(0), r["price"]),
                               decimal_qty(old.spec(0), r["qty"])) for r in a}  # fmt: skip
    want |= {int(r["agg_id"]): (decimal_price(new.spec(0), r["price"]),
                                decimal_qty(new.spec(0), r["qty"])) for r in b}  # fmt: skip
    with Store(path) as store:
        assert (store.spec("BTCUSDT").tick_size, store.spec("BTCUSDT").step_size) == (
            "0.05",
            "0.001",
        )
        frame = store.load_trades_frame("BTCUSDT", T0, T0 + 60_000)
        got = {
            agg: (Decimal(repr(p)), Decimal(repr(q)))
            for agg, p, q in zip(
                frame["agg_trade_id"], frame["price"], frame["quantity"], strict=True
            )
        }
        assert got == want
        profiles, spec = store.load_minute_profiles("BTCUSDT", T0, T0 + 60_000)
    volume = {}
    for price, qty in want.values():
        volume[price] = volume.get(price, 0) + qty
    got_volume = {
        Decimal(int(t)) * Decimal(spec.tick_size): Decimal(int(bq + aq)) * Decimal(spec.step_size)
        for t, bq, aq in zip(profiles["price_ticks"], profiles["bid_qty_steps"],
                             profiles["ask_qty_steps"], strict=True)
    }  # fmt: skip
    assert got_volume == volume


def test_readers_in_other_threads_see_whole_transactions(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    per_batch = len(batch(0).trades)
    writer = writer_for(path, commit_interval_s=0.0).start()
    writer.submit(batch(0))
    assert writer.flush(10)
    store = Store(path)
    seen: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(50):
                n = store.trade_count()
                seen.append(n)
                assert store.last_agg_ids()["BTCUSDT"] >= n // 4
        except BaseException as exc:  # reported to the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for k in range(1, 30):
        writer.submit(batch(k))
    for t in threads:
        t.join()
    assert writer.close()
    store.close()
    assert not errors
    assert all(n % per_batch == 0 for n in seen)  # never part of a transaction
