"""The example in docs/analytics.md runs as written (against the recorded samples)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.samples import SAMPLES

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"


def test_analytics_doc_example_runs(capsys):
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    code = code.replace('"../shared/samples/binance/"', repr(f"{SAMPLES}/"))
    exec(compile(code, str(DOC), "exec"), {})
    out = capsys.readouterr().out
    assert "stacked_buy" in out and "BTCUSDT" in out
