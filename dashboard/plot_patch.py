"""Push new data into a chart HoloViews has already drawn, without a DynamicMap update.

A DynamicMap update re-applies every option, recomputes ranges, hover tools and the Bokeh
document's model graph: for the footprint's ten layers that is most of a second of server
CPU, paid by every session for every tick of the live bar. A live bar that only gained trades
changes nothing but data, so its layers take the data path HoloViews itself uses
(`ElementPlot._update_glyphs`) and nothing else. Anything that changes the chart's structure
(a range, the bin, the timeframe, cells turning into an image) still goes through the
DynamicMap.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np


def patch_plot(plot: object, element: hv.core.ViewableElement) -> bool:
    """Give each layer of `plot` (an overlay's layers, or one element's plot) the data of the
    matching layer of `element`. False, and nothing changed, when the two do not match."""
    if isinstance(element, hv.Overlay):
        subplots = getattr(plot, "subplots", None) or {}
        if list(subplots) != list(element.data):
            return False
        pairs = [(subplots[key], element.data[key]) for key in subplots]
    else:
        pairs = [(plot, element)]
    for layer, new in pairs:
        # Element plots of the Bokeh backend (not imported here: importing it would register
        # the backend before `hv.extension` sets it up).
        if type(new) is not type(getattr(layer, "current_frame", None)):
            return False
        if "source" not in getattr(layer, "handles", {}) or not hasattr(layer, "get_data"):
            return False
    for layer, new in pairs:
        if _same_data(layer.current_frame, new):
            continue  # nothing to send (a live tick leaves most layers as they are)
        layer.current_frame = new
        source = layer.handles["source"]
        style = layer.style[layer.cyclic_index]
        data, _, _ = layer.get_data(new, layer.current_ranges, style)
        # A glyph property mapped to a column (`fill_color="fill_color"`) reads the element's
        # dimension of that name: the chart names those vdims after the properties.
        names = {d.name for d in new.dimensions()}
        missing = [name for name in source.data if name not in data]
        if all(name in names for name in missing):
            data.update({name: new.dimension_values(name) for name in missing})
            # One replacement of the whole data (as HoloViews does when lengths change): an
            # update column by column shows the browser columns of unequal lengths meanwhile.
            source.data = {name: data[name] for name in source.data}
        else:
            layer._update_glyphs(new, layer.current_ranges, style)
    return True


def _same_data(old: hv.Element, new: hv.Element) -> bool:
    if type(old) is not type(new) or old.dimensions() != new.dimensions() or len(old) != len(new):
        return False
    if isinstance(new, hv.Image):  # its bounds are part of what is drawn
        return old.bounds.lbrt() == new.bounds.lbrt() and np.array_equal(
            old.data, new.data, equal_nan=True
        )
    if isinstance(old.data, dict) and isinstance(new.data, dict):
        # Columns of the dictionary datatype compared as they are: `dimension_values` would
        # copy each one first (30x slower, paid by every session for every live tick).
        return old.data.keys() == new.data.keys() and all(
            np.array_equal(old.data[k], new.data[k]) for k in new.data
        )
    return all(
        np.array_equal(old.dimension_values(d), new.dimension_values(d)) for d in new.dimensions()
    )
