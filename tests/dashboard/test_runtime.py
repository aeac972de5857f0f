from __future__ import annotations

import pytest

from dashboard.app import settings_from_args
from dashboard.cli import settings_of
from dashboard.runtime import RuntimeSettings
from pipelines.cli import build_parser


def test_settings_round_trip_through_the_environment() -> None:
    settings = RuntimeSettings(
        demo=True,
        demo_symbols=12,
        demo_rate=50.0,
        demo_seed=9,
        symbols=("BTCUSDT", "ETHUSDT"),
        db_path="/tmp/x.db",
        warm_hours=2.5,
    )
    assert RuntimeSettings.from_env(settings.to_env()) == settings
    assert RuntimeSettings.from_env({}) == RuntimeSettings()


def test_bad_environment_value_is_reported() -> None:
    with pytest.raises(ValueError, match="ORDERFLOW"):
        RuntimeSettings.from_env({"ORDERFLOW_DEMO_RATE": "fast"})


def test_cli_and_script_arguments(monkeypatch) -> None:
    args = build_parser().parse_args(
        ["serve", "--demo", "--port", "7000", "--symbols", "btcusdt, ethusdt"]
    )
    settings = settings_of(args)
    assert settings.demo and settings.symbols == ("BTCUSDT", "ETHUSDT") and args.port == 7000
    assert args.address == "127.0.0.1"
    demo = build_parser().parse_args(["demo"])
    assert settings_of(demo).demo and settings_of(demo).db_path is None  # demo keeps nothing
    monkeypatch.setenv("XDG_DATA_HOME", "/data/home")
    live = settings_of(build_parser().parse_args(["serve"]))
    assert live.db_path == "/data/home/orderflow/orderflow.db"
    assert settings_of(build_parser().parse_args(["serve", "--no-db"])).db_path is None
    assert settings_of(build_parser().parse_args(["serve", "--warm-hours", "3"])).warm_hours == 3
    with pytest.raises(ValueError, match="--warm-hours must be between 0 and 24"):
        settings_of(build_parser().parse_args(["serve", "--warm-hours", "-2"]))
    monkeypatch.delenv("ORDERFLOW_DEMO", raising=False)
    assert settings_from_args(["--demo", "--db", "a.db"]) == RuntimeSettings(
        demo=True, db_path="a.db"
    )


def test_the_heap_is_settled_only_for_a_served_session() -> None:
    """A script or notebook asking for the engine keeps Python's collector as it was; a served
    session's first request freezes the heap and makes full collections rarer."""
    import subprocess
    import sys

    code = """
import gc
from bokeh.document import Document
from panel.io.server import set_curdoc
from dashboard import runtime
before = gc.get_threshold()
runtime.configure(runtime.RuntimeSettings(rest_url="http://127.0.0.1:9", ws_url="ws://127.0.0.1:9"))
runtime.get_engine()  # a script: no session
print(gc.get_freeze_count() == 0 and gc.get_threshold() == before)
runtime.shutdown()
doc = Document()
doc._session_context = lambda: object()  # what a Bokeh server session gives its document
with set_curdoc(doc):
    runtime.get_engine()
print(gc.get_freeze_count() > 100_000, gc.get_threshold()[0])
runtime.shutdown()
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split("\n")
    assert out[0] == "True"
    assert out[1] == "True 10000"
