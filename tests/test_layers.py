"""The import-linter contracts hold on the tree, and catch an import that points up a layer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# import-linter's command, installed beside this interpreter by the test extra.
LINT_IMPORTS = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    # The copy's packages come first on the path, ahead of the editable install of ROOT.
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def copy_tree(tmp_path: Path) -> Path:
    for name in ("pipelines", "dashboard"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = lint_imports(copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_analysis_importing_the_engine_breaks_the_layers(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    module = root / "pipelines" / "analytics" / "imbalance.py"
    module.write_text(module.read_text() + "\nimport pipelines.engine.service  # noqa\n")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "Layers: dashboard -> engine" in result.stdout and "BROKEN" in result.stdout
    assert "pipelines.analytics.imbalance -> pipelines.engine.service" in result.stdout


def test_the_engine_importing_the_stand_in_is_refused(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    module = root / "pipelines" / "engine" / "rest.py"
    module.write_text(module.read_text() + "\nimport pipelines.standin.server  # noqa\n")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "pipelines.engine.rest -> pipelines.standin.server" in result.stdout
