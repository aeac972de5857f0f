from __future__ import annotations

import asyncio
import time

import panel as pn
import pytest

from pipelines.engine.footprint_source import CLOSE_AFTER_MS
from pipelines.engine.service import Engine
from tests.dashboard.feed import Feed

MINUTE = 60_000


@pytest.fixture(autouse=True)
def _panel_state():
    yield
    pn.state.reset()


@pytest.fixture
def fed():
    """An unstarted engine holding 40 minutes of synthetic trades; returns (engine, feed, now)."""
    engine = Engine()
    feed = Feed(engine)
    # Tests add trades to the live bar as the clock's minute. In a minute's first
    # CLOSE_AFTER_MS the previous bar is still open for its late trades: start after them.
    while time.time() * 1000 % MINUTE < CLOSE_AFTER_MS + 1000:
        time.sleep(0.1)
    now = int(time.time() * 1000)
    asyncio.run(feed.push(feed.trades(now - 40 * MINUTE, now - 1000, 30_000)))
    return engine, feed, now
