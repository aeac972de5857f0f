"""The notebook example of docs/user-guide.md runs as written and shows the source's footprint."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from pipelines.analytics.footprint import FootprintRules, footprint_from_records

DOC = Path(__file__).resolve().parents[2] / "docs" / "user-guide.md"


def test_footprint_source_example_runs(capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    code = next(b for b in blocks if "FootprintSource(" in b)
    scope: dict = {}
    exec(compile(code, str(DOC), "exec"), scope)
    source, view = scope["source"], scope["view"]
    spec = source.spec
    rules = FootprintRules.make(spec, price_bin_ticks=10, timeframe="1m")
    expected = footprint_from_records(scope["trades"], spec, rules)
    _, bars = source.frames()
    np.testing.assert_allclose(bars["poc"], expected.bars["poc"])
    assert f"POC of the last: {expected.bars['poc'].iloc[-1]:,.1f}" in capsys.readouterr().out
    assert view.source is source and view.symbol == "BTCUSDT"
    view.__panel__()  # renders: the chart is built from the same source
    assert view.frame().bars["bar_time"].max() == expected.bars["bar_time"].max()
