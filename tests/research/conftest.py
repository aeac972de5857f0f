"""Fixtures: the generated archive, and research runs over it with 1 and with 2 workers (the
three datasets of the views, and the signals)."""

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


def _run_with_1_and_2_workers(
    root: Path, outputs: list[str], tmp_path_factory, name: str
) -> dict[int, Path]:
    outs = {}
    for workers in (1, 2):
        out = tmp_path_factory.mktemp(f"{name}{workers}")
        with client_for(workers=workers) as client:
            report = run(client, ArchiveSource(str(root)), outputs, SYMBOLS, START, END, str(out))
        assert report.errors == []
        assert report.no_data == ["ETHUSDT 2024-03-02"]
        outs[workers] = out
    return outs


@pytest.fixture(scope="session")
def outputs(archive, tmp_path_factory) -> dict[int, Path]:
    return _run_with_1_and_2_workers(archive[0], OUTPUTS, tmp_path_factory, "out")


@pytest.fixture(scope="session")
def signal_outputs(archive, tmp_path_factory) -> dict[int, Path]:
    return _run_with_1_and_2_workers(archive[0], ["signals"], tmp_path_factory, "signals")
