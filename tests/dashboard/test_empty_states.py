"""Empty and failing states: each view names the reason, as text, and never raises."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
from holoviews.operation.datashader import rasterize

from dashboard.bigorders import BigOrdersView
from dashboard.imbalance import ImbalanceView, heatmap_image
from dashboard.liquidations import LiquidationsView
from pipelines.engine.service import Engine


def shown(view) -> str:
    return view.empty.object if view.empty.visible else ""


def test_unstarted_engine_says_connecting_then_the_error_escaped() -> None:
    engine = Engine()
    views = [
        BigOrdersView(engine=engine),
        ImbalanceView(engine=engine),
        LiquidationsView(engine=engine),
    ]
    for view in views:
        view.__panel__()
        assert "connecting to the exchange" in shown(view)
    engine.last_error = "start: <b>refused</b>"
    for view in views:
        view.refresh_all()
        assert "exchange unreachable · start: &lt;b&gt;refused&lt;/b&gt;" in shown(view)
        assert view._errors == 0


def test_no_trades_names_the_store_state(tmp_path, monkeypatch) -> None:
    from pipelines.engine.service import EngineConfig

    monkeypatch.setattr("dashboard.live.feed_reason", lambda status: "")  # the feed is live

    for config, said in (
        (EngineConfig(), "no store configured"),
        (EngineConfig(db_path=str(tmp_path / "missing.db")), "store unavailable"),
    ):
        engine = Engine(config)
        view = ImbalanceView(engine=engine)
        view.__panel__()
        assert said in shown(view), shown(view)


def test_data_hides_the_empty_state(fed) -> None:
    engine, _, _ = fed
    view = ImbalanceView(engine=engine)
    view.__panel__()
    assert shown(view) == ""
    assert len(view._names) == len(engine.registry.active)


def test_a_heatmap_of_one_contract_or_none_rasterizes() -> None:
    hv.extension("bokeh", logo=False)
    one = pd.DataFrame([[0.5, -0.5]], index=["AAA"], columns=[0, 60_000])
    for frame in (one, pd.DataFrame()):
        image, _ = heatmap_image(frame)
        out = rasterize(image, aggregator="mean", width=20, height=10, dynamic=False)
        values = out.dimension_values("imbalance", flat=False)
        if len(frame):  # the left half is the first minute, the right half the second
            half = values.shape[1] // 2
            np.testing.assert_allclose(values[:, :half], 0.5)
            np.testing.assert_allclose(values[:, half:], -0.5)
        else:
            assert np.isnan(values).all()
