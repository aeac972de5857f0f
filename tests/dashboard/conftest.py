from __future__ import annotations

import asyncio
import time

import panel as pn
import pytest

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
    now = int(time.time() * 1000)
    asyncio.run(feed.push(feed.trades(now - 40 * MINUTE, now - 1000, 30_000)))
    return engine, feed, now
