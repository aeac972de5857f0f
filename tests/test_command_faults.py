"""Expected faults end a command in one line: bad store files and paths, an exchange that does
not answer, an exposed bind without authentication; and the endpoint options resolve."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dashboard import cli as dashboard_cli
from dashboard.header import status_html
from dashboard.runtime import Runtime, RuntimeSettings
from pipelines.binance import endpoints as ep
from pipelines.cli import build_parser, main
from pipelines.engine.options import endpoints_of
from pipelines.storage.schema import SCHEMA_VERSION, connect

# Makes a bad store in a folder: (its path, the cause `ingest` names, the cause `export` names).
BadStore = Callable[[Path], tuple[Path, str, str]]


def not_sqlite(folder: Path) -> tuple[Path, str]:
    path = folder / "orderflow.db"
    path.write_bytes(b"trader notes, not a database\n" * 40)
    return path, "not an SQLite database", "not an SQLite database"


def newer_schema(folder: Path) -> tuple[Path, str]:
    path = folder / "orderflow.db"
    connect(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    return path, "newer than this code knows", "newer than this code knows"


def under_a_file(folder: Path) -> tuple[Path, str]:
    (folder / "notes.txt").write_text("a file where a folder should be")
    return folder / "notes.txt" / "orderflow.db", "notes.txt is not a folder", "no database at"


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another process's connection holding the file exclusively."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("CREATE TABLE IF NOT EXISTS held (x)")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def run_cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    code = main(argv)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return code, err


def command_argv(command: str, db: Path, tmp_path: Path) -> list[str]:
    if command == "ingest":  # never reaches the exchange: the store is refused first
        return ["ingest", "--db", str(db), "--rest-url", "http://127.0.0.1:9", "--duration", "1"]
    out = tmp_path / "out" / "x.csv"
    return ["export", "--db", str(db), "--symbol", "BTCUSDT", "--start", "0", "--end", "1",
            "--out", str(out)]  # fmt: skip


@pytest.mark.parametrize("command", ["ingest", "export"])
@pytest.mark.parametrize("make", [not_sqlite, newer_schema, under_a_file], ids=lambda f: f.__name__)
def test_bad_store_file_is_one_line_and_nothing_is_written(
    command: str, make: BadStore, tmp_path: Path, capsys
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    db, *causes = make(folder)
    cause = causes[command == "export"]
    before = snapshot(folder)
    code, err = run_cli(command_argv(command, db, tmp_path), capsys)
    assert code == 2
    assert len(err) == 1, err
    assert err[0].startswith(f"orderflow {command}: ") and str(db) in err[0] and cause in err[0]
    after = snapshot(folder)
    # The file is untouched; reading a WAL file may leave its own empty -wal/-shm beside it.
    companions = {f"{db.name}-wal", f"{db.name}-shm"}
    assert {k: v for k, v in after.items() if k not in companions} == before
    assert all(after[k] == b"" for k in companions & after.keys() if k.endswith("-wal"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["ingest", "export"])
def test_store_locked_by_another_process_is_one_line(command: str, tmp_path: Path, capsys) -> None:
    db = tmp_path / "orderflow.db"
    connect(db).close()
    with locked(db):
        code, err = run_cli(command_argv(command, db, tmp_path), capsys)
    assert code == 2 and len(err) == 1, err
    assert str(db) in err[0] and "locked by another process" in err[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="a read-only mount needs root")
def test_store_in_an_unwritable_folder_is_one_line(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")
    try:
        code, err = run_cli(command_argv("ingest", folder / "orderflow.db", tmp_path), capsys)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
    assert code == 2 and len(err) == 1, err
    assert str(folder / "orderflow.db") in err[0] and "cannot open the file" in err[0]


def test_debug_log_level_shows_the_traceback(tmp_path: Path, capsys, caplog) -> None:
    db, *_ = not_sqlite(tmp_path)
    caplog.set_level(logging.DEBUG, logger="orderflow")
    code, err = run_cli(["--log-level", "DEBUG", "ingest", "--db", str(db)], capsys)
    assert code == 2 and len(err) == 1
    traced = [r for r in caplog.records if r.exc_info]
    assert traced and "file is not a database" in str(traced[0].exc_info[1].__cause__)


def test_serve_runs_without_a_bad_store_and_says_so(tmp_path: Path) -> None:
    db, cause, _ = not_sqlite(tmp_path)
    rt = Runtime(RuntimeSettings(demo=True, demo_symbols=8, demo_rate=200, db_path=str(db)))
    try:
        rt.start()
        deadline = time.monotonic() + 60
        while not rt.engine.status().connected:
            assert time.monotonic() < deadline, rt.engine.status()
            time.sleep(0.2)
        status = rt.engine.status()
    finally:
        rt.stop()
    assert rt.engine.writer is None  # the engine runs from memory
    assert status.store_fault.startswith("unavailable") and cause in status.store_fault
    assert "store: unavailable" in status_html(status)
    assert db.read_bytes() == b"trader notes, not a database\n" * 40


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is: nothing listens


def test_a_bad_store_cache_size_is_one_line(tmp_path: Path, capsys) -> None:
    code = main(["ingest", "--db", str(tmp_path / "o.db"), "--store-cache-mb", "0"])
    assert code == 2
    err = capsys.readouterr().err
    assert err == "orderflow ingest: --store-cache-mb must be at least 1, got 0\n"
    assert not (tmp_path / "o.db").exists()


@pytest.mark.parametrize("hours", ["-1", "25"])
def test_a_warm_up_out_of_range_is_one_line(hours: str, tmp_path: Path, capsys) -> None:
    code = main(["ingest", "--db", str(tmp_path / "o.db"), "--warm-hours", hours])
    assert code == 2
    err = capsys.readouterr().err
    assert err == f"orderflow ingest: --warm-hours must be between 0 and 24, got {float(hours)}\n"
    assert not (tmp_path / "o.db").exists()


def test_dead_exchange_is_one_line_per_attempt(tmp_path: Path, capsys, caplog) -> None:
    caplog.set_level(logging.INFO)
    url = f"http://127.0.0.1:{closed_port()}"
    code = main(["ingest", "--db", str(tmp_path / "o.db"), "--rest-url", url, "--duration", "1"])
    assert code == 1
    attempts = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert attempts and all(
        r.getMessage().startswith(f"cannot reach {url}: ") and "\n" not in r.getMessage()
        for r in attempts
    )
    assert not any(r.exc_info for r in caplog.records if r.levelno > logging.DEBUG)
    assert "Traceback" not in capsys.readouterr().err


def test_dashboard_on_a_dead_exchange_says_what_it_cannot_reach() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    rt = Runtime(RuntimeSettings(rest_url=url, ws_url=url.replace("http", "ws")))
    try:
        rt.start()
        deadline = time.monotonic() + 60
        while not rt.engine.last_error:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        status = rt.engine.status()
    finally:
        rt.stop()
    assert status.last_error.startswith(f"cannot reach {url}: ") and "\n" not in status.last_error
    assert f"cannot reach {url}" in status_html(status)


def test_testnet_and_explicit_endpoints_resolve() -> None:
    parse = build_parser().parse_args
    assert endpoints_of(parse(["ingest", "--testnet"])) == (
        "https://demo-fapi.binance.com",
        "wss://fstream.binancefuture.com",
    )
    assert endpoints_of(parse(["ingest"])) == (None, None)  # Binance itself (the default)
    proxy = parse(["serve", "--testnet", "--rest-url", "http://proxy:8080"])
    assert endpoints_of(proxy) == ("http://proxy:8080", ep.TESTNET_WS_URL)  # explicit wins
    for command in ("serve", "demo"):
        settings = dashboard_cli.settings_of(parse([command, "--testnet"]))
        assert (settings.rest_url, settings.ws_url) == (ep.TESTNET_REST_URL, ep.TESTNET_WS_URL)
        args = parse([command, "--rest-url", "http://a:1", "--ws-url", "ws://a:1"])
        settings = dashboard_cli.settings_of(args)
        assert (settings.rest_url, settings.ws_url) == ("http://a:1", "ws://a:1")


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.7", "::", "trading-box"])
def test_exposed_bind_without_auth_refuses_to_start(address: str, capsys) -> None:
    code, err = run_cli(["serve", "--no-db", "--address", address], capsys)
    assert code == 2 and len(err) == 1
    assert f"refusing to serve on {address} without authentication" in err[0]
    assert "--basic-auth" in err[0]


def test_loopback_needs_no_auth_and_auth_gets_a_cookie_secret() -> None:
    parse = build_parser().parse_args
    assert all(dashboard_cli.is_loopback(a) for a in ("127.0.0.1", "::1", "localhost"))
    assert dashboard_cli.auth_options(parse(["serve"])) == {}
    first = dashboard_cli.auth_options(parse(["serve", "--basic-auth", "pw"]))
    second = dashboard_cli.auth_options(parse(["serve", "--basic-auth", "pw"]))
    assert first["basic_auth"] == "pw" and len(first["cookie_secret"]) >= 32
    assert first["cookie_secret"] != second["cookie_secret"]  # generated, not a constant
    given = parse(["serve", "--oauth-provider", "github", "--cookie-secret", "s"])
    assert dashboard_cli.auth_options(given) == {"oauth_provider": "github", "cookie_secret": "s"}
