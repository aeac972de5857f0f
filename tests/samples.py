"""Access to the real recorded Binance payloads in ../shared/samples/binance (see its SOURCES.md)."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

SAMPLES = Path(
    os.environ.get(
        "ORDERFLOW_SAMPLES", Path(__file__).resolve().parents[2] / "shared" / "samples" / "binance"
    )
)


def sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.exists():
        pytest.fail(f"recorded sample {path} is missing (set ORDERFLOW_SAMPLES to its folder)")
    return path


def jsonl_lines(name: str) -> list[str]:
    return [line for line in sample(name).read_text().splitlines() if line.strip()]


def cryptofeed_ws_frames() -> list[str]:
    """Frames of the byte-exact cryptofeed capture: `local_ts: frame` after a URL header line."""
    lines = sample("cryptofeed_BINANCE_FUTURES.ws.1.0.raw.txt").read_text().splitlines()
    return [line.split(": ", 1)[1] for line in lines[1:] if ": " in line]


def cryptofeed_http_bodies() -> Iterator[tuple[str, dict]]:
    """(url, body) of the byte-exact REST capture: `url -> ts: body` lines."""
    for line in sample("cryptofeed_BINANCE_FUTURES.http.0.0.raw.txt").read_text().splitlines():
        if " -> " not in line:
            continue
        url, rest = line.split(" -> ", 1)
        yield url, json.loads(rest.split(": ", 1)[1])


def hftbacktest_frames() -> list[str]:
    """Frames of the hftbacktest capture: `<local_ns> <frame>` lines (one is a REST snapshot)."""
    with gzip.open(sample("hftbacktest_usdm_btcusdt_20240808.gz"), "rt") as fh:
        return [line.split(" ", 1)[1] for line in fh if line.strip()]
