"""Suite-wide pytest hooks."""


def pytest_collection_modifyitems(config, items):
    """Browser tests last: Playwright's sync API leaves an event loop running in the thread,
    which the asyncio tests collected after them would trip over."""
    items.sort(key=lambda item: item.get_closest_marker("ui") is not None)
