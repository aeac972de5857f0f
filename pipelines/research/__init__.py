"""Research at scale: the platform's exact analytics over months of archives, on Dask.

    from pipelines.research import research, read_dataset
    research(["profiles", "imbalance", "big-orders"], archive="https://data.binance.vision",
             symbols=["BTCUSDT"], start=date(2024, 1, 1), end=date(2024, 3, 31), out="out",
             workers=2)
    read_dataset("out", "big-orders")  # a Dask DataFrame
    signal_record("out")  # after research(["signals"], ...): how each kind of signal did

docs/research.md has the definitions; `orderflow research` is the same from the shell.
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use: Dask, datashader and xarray take seconds to import, and every
# `orderflow` command builds its parser from pipelines.research.cli.
_EXPORTS = {
    "research": "pipelines.research.api",
    "KINDS": "pipelines.research.dataset",
    "read_dataset": "pipelines.research.dataset",
    "OUTPUTS": "pipelines.research.runner",
    "RunReport": "pipelines.research.runner",
    "ArchiveSource": "pipelines.research.sources",
    "SourceError": "pipelines.research.sources",
    "StoreSource": "pipelines.research.sources",
    "heatmap_frame": "pipelines.research.views",
    "heatmap_points": "pipelines.research.views",
    "heatmap_raster": "pipelines.research.views",
    "load_profile": "pipelines.research.views",
    "profile_raster": "pipelines.research.views",
    "read_signals": "pipelines.research.record",
    "signal_record": "pipelines.research.record",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pipelines.research' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
