"""`orderflow research` end to end: local mirror, HTTP archive, and bad input in one line."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import dask.dataframe as dd
import pandas as pd
import pytest
from aiohttp import web

from pipelines.binance import vision
from pipelines.cli import main
from pipelines.research import dataset
from tests.research.archive import CONTRACTS, write_archive

DAYS = [dt.date(2024, 5, 1), dt.date(2024, 5, 2)]
TWO = CONTRACTS[:2]

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mirror")
    write_archive(root, DAYS, TWO)
    return root


@pytest.fixture(scope="module")
def http_archive(mirror) -> Iterator[str]:
    """The mirror served over HTTP, as data.binance.vision serves its files."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_static("/", str(mirror))
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def _args(base: str, out: Path, *extra: str) -> list[str]:
    return ["research", "profiles", "--archive", base, "--symbols", "BTCUSDT,ADAUSDT",
            "--start", "2024-05-01", "--end", "2024-05-02", "--out", str(out), "--quiet", *extra]  # fmt: skip


def test_profiles_from_a_local_mirror_read_back_with_dask(mirror, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_args(str(mirror), out, "--workers", "1")) == 0
    assert "10,000 trades" in capsys.readouterr().out  # 2 days x (3,000 + 2,000)
    frame = dd.read_parquet(str(out / "profiles")).compute()
    assert {"symbol", "minute", "price", "bid", "ask", "trades", "date"} <= set(frame.columns)
    assert set(frame["symbol"].astype(str)) == {"BTCUSDT", "ADAUSDT"}
    assert frame["trades"].sum() == sum(c.rows for c in TWO) * len(DAYS)
    days = dataset.read_dataset(out, "days").compute()
    ada = days[days["symbol"].astype(str) == "ADAUSDT"]
    assert set(ada["tick_size"]) == {"0.010000000000"} and set(ada["step_size"]) == {
        "1.000000000000"
    }


def test_profiles_over_http_download_verify_and_match_the_mirror(mirror, http_archive, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert main(_args(str(mirror), local)) == 0
    assert main(_args(http_archive, remote, "--cache", str(tmp_path / "cache"))) == 0
    got = pd.read_parquet(dataset.partition_path(remote, "profiles", "ADAUSDT", DAYS[1]))
    ref = pd.read_parquet(dataset.partition_path(local, "profiles", "ADAUSDT", DAYS[1]))
    pd.testing.assert_frame_equal(got, ref)
    cached = tmp_path / "cache" / vision.day_path("ADAUSDT", DAYS[1])
    assert cached.read_bytes() == (mirror / vision.day_path("ADAUSDT", DAYS[1])).read_bytes()


def test_fetch_day_over_http_rejects_a_bad_checksum_and_knows_a_missing_day(
    mirror, http_archive, tmp_path
):
    assert vision.fetch_day(http_archive, "BTCUSDT", dt.date(2020, 1, 1), tmp_path) is None
    bad = tmp_path / "bad"
    shutil.copytree(mirror, bad)
    zip_path = bad / vision.day_path("BTCUSDT", DAYS[0])
    zip_path.write_bytes(zip_path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(vision.ArchiveError, match="does not match CHECKSUM"):
        vision.fetch_day(str(bad), "BTCUSDT", DAYS[0], tmp_path)


def test_bad_input_is_one_clear_line_and_no_traceback(mirror, tmp_path, capsys):
    assert main(_args(str(mirror), tmp_path / "o1", "--symbols", "NOSUCHUSDT")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("orderflow research: unknown symbol NOSUCHUSDT") and "\n" not in err
    bad = tmp_path / "bad"
    shutil.copytree(mirror, bad)
    zip_path = bad / vision.day_path("BTCUSDT", DAYS[0])
    zip_path.write_bytes(zip_path.read_bytes()[:-10] + b"0123456789")
    assert main(_args(str(bad), tmp_path / "o2")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"orderflow research: BTCUSDT {DAYS[0]}: {zip_path.name}: sha256 "
        + err[0].split(" sha256 ")[1]
    ]
    assert "does not match CHECKSUM" in err[0] and "Traceback" not in err[0]
    assert (
        main(_args(str(mirror), tmp_path / "o3", "--start", "2019-01-01", "--end", "2019-01-02"))
        == 1
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "orderflow research: BTCUSDT: no trades in the source from 2019-01-01 to 2019-01-02",
        "orderflow research: ADAUSDT: no trades in the source from 2019-01-01 to 2019-01-02",
    ]
    with pytest.raises(SystemExit):
        main(_args(str(mirror), tmp_path / "o4", "--start", "2024-13-01"))
    assert "not a date" in capsys.readouterr().err


def test_a_partition_write_that_fails_leaves_no_partition(tmp_path, monkeypatch):
    def broken(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(dataset.pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        dataset.write_partition(pd.DataFrame({"a": [1]}), tmp_path, "profiles", "X", DAYS[0])
    assert not dataset.has_partition(tmp_path, "profiles", "X", DAYS[0])
    assert list(dataset.partition_path(tmp_path, "profiles", "X", DAYS[0]).parent.iterdir()) == []


def test_the_cli_offers_exactly_the_runner_outputs():
    from pipelines.research.cli import OUTPUT_CHOICES
    from pipelines.research.runner import OUTPUTS

    assert tuple(OUTPUTS) == OUTPUT_CHOICES


def test_scheduler_address_runs_the_same_tasks_on_a_running_cluster(mirror, tmp_path):
    from distributed import LocalCluster

    local, remote = tmp_path / "local", tmp_path / "cluster"
    assert main(_args(str(mirror), local)) == 0
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as cluster:
        assert main(_args(str(mirror), remote, "--scheduler", cluster.scheduler_address)) == 0
    for symbol in ("BTCUSDT", "ADAUSDT"):
        for day in DAYS:
            got = pd.read_parquet(dataset.partition_path(remote, "profiles", symbol, day))
            ref = pd.read_parquet(dataset.partition_path(local, "profiles", symbol, day))
            pd.testing.assert_frame_equal(got, ref)
