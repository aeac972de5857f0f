"""Push new data into a chart HoloViews has already drawn, without a DynamicMap update.

A DynamicMap update re-applies every option, recomputes ranges, hover tools and the Bokeh
document's model graph: for the footprint's ten layers that is most of a second of server
CPU, paid by every session for every tick of the live bar. A live bar that only gained trades
changes nothing but data, so its layers' columns go straight into the drawn glyphs' sources,
named as HoloViews' own get_data names them (footprint_chart.Glyph.source_data): no element,
no option lookup. Anything that changes the chart's structure (a range, the bin, the
timeframe, cells turning into an image) still goes through the DynamicMap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dashboard.footprint_chart import Layer


def patch_plot(plot: object, layers: Sequence[Layer]) -> bool:
    """Give each layer of `plot` (an overlay's layers in order, or one element's plot) the
    columns of the matching layer. False, and nothing changed, when the two do not match."""
    subplots = getattr(plot, "subplots", None)
    drawn = list(subplots.values()) if subplots else [plot]
    if len(drawn) != len(layers):
        return False
    updates = []
    for layer, new in zip(drawn, layers, strict=True):
        # Element plots of the Bokeh backend (not imported here: importing it would register
        # the backend before `hv.extension` sets it up).
        if type(getattr(layer, "current_frame", None)) is not new.kind:
            return False
        source = getattr(layer, "handles", {}).get("source")
        if source is None:
            return False
        data = new.source_data(source.data.keys())
        if data is None:
            return False
        if not all(_same_column(source.data[name], data[name]) for name in data):
            updates.append((source, data))
    for source, data in updates:
        # One replacement of the whole data (as HoloViews does when lengths change): an
        # update column by column shows the browser columns of unequal lengths meanwhile.
        source.data = data
    return True


def _same_column(old: object, new: object) -> bool:
    """Equal values (NaN equal to NaN), compared as they are: a live tick leaves most layers
    unchanged and nothing of them needs to be sent."""
    a, b = np.asarray(old), np.asarray(new)
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        return np.array_equal(a, b, equal_nan=True)
    return np.array_equal(a, b)
