"""Fixtures: the generated archive, and research runs over it with 1 and with 2 workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.research.runner import client_for, run
from pipelines.research.sources import ArchiveSource
from tests.research.archive import write_archive
from tests.research.scenario import DAYS, END, OUTPUTS, SKIP, START, SYMBOLS


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("archive")
    return root, write_archive(root, DAYS, skip=SKIP)


@pytest.fixture(scope="session")
def outputs(archive, tmp_path_factory) -> dict[int, Path]:
    root, _ = archive
    outs = {}
    for workers in (1, 2):
        out = tmp_path_factory.mktemp(f"out{workers}")
        with client_for(workers=workers) as client:
            report = run(client, ArchiveSource(str(root)), OUTPUTS, SYMBOLS, START, END, str(out))
        assert report.errors == []
        assert report.no_data == ["ETHUSDT 2024-03-02"]
        outs[workers] = out
    return outs
