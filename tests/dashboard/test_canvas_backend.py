"""Every chart of the dashboard draws on an HTML canvas, not WebGL (which, without a GPU, is
drawn in software and copied to the canvas on every repaint)."""

from __future__ import annotations

import pytest
from bokeh.document import Document
from bokeh.models import Plot
from panel.io.server import set_curdoc

from dashboard.bigorders import BigOrdersView
from dashboard.footprint import FootprintView
from dashboard.imbalance import ImbalanceView
from dashboard.liquidations import LiquidationsView


@pytest.mark.parametrize(
    "view_class", [FootprintView, ImbalanceView, LiquidationsView, BigOrdersView]
)
def test_charts_draw_on_canvas(fed, view_class) -> None:
    engine, _, _ = fed
    view = view_class(engine=engine)
    doc = Document()
    with set_curdoc(doc):
        doc.add_root(view.__panel__().get_root(doc))
        view.refresh_all()
    backends = [m.output_backend for m in doc.models if isinstance(m, Plot)]
    if view_class is not BigOrdersView:  # the screener is a table and may draw no chart
        assert backends
    assert set(backends) <= {"canvas"}, backends
