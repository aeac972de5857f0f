"""The examples in docs/research.md run as written, against the generated archive."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.research.scenario import END, START

DOC = Path(__file__).resolve().parents[2] / "docs" / "research.md"


@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")
def test_research_doc_examples_run(archive, tmp_path, capsys):
    root, _ = archive
    settings = {
        'ARCHIVE = "https://data.binance.vision"  # or a local mirror': f"ARCHIVE = {str(root)!r}",
        "START, END = dt.date(2024, 3, 1), dt.date(2024, 3, 31)": f"START, END = dt.date.fromisoformat('{START}'), dt.date.fromisoformat('{END}')",
        'OUT = "research-out"': f"OUT = {str(tmp_path / 'out')!r}",
    }
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 2  # the datasets and views, then the signals' follow-through
    outputs = []
    for code in blocks:
        for line, replacement in settings.items():
            assert line in code
            code = code.replace(line, replacement)
        exec(compile(code, str(DOC), "exec"), {"__name__": "__main__"})
        outputs.append(capsys.readouterr().out)
    views, signals = outputs
    # BTCUSDT 4 days x 3,000 + ETHUSDT 3 days x 2,500 (one day has no file); the first day of
    # each is read for the ADV only.
    assert "19,500 trades" in views
    assert "heatmap (2, 1200) rows: ['BTCUSDT', 'ETHUSDT']" in views
    assert "pct_adv" in views and "poc" in views
    # Signals of the 3 + 2 days in range (the day before each only warms up).
    assert "14,000 trades" in signals
    assert "hit_rate_15m" in signals and "stacked_imbalance" in signals
    assert "signed_60m" in signals
