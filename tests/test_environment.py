"""environment.yml carries what pyproject.toml asks for, so a conda user can run the README's
test command: every runtime and test requirement, under the same name and at least the same
version floor (conda's names where they differ from PyPI's)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# PyPI name -> the names conda-forge ships it as (dask[distributed] is dask plus distributed).
CONDA_NAMES = {"dask[distributed]": ("dask", "distributed")}
REQUIREMENT = re.compile(r"^\s*-\s+([A-Za-z0-9_.\-\[\]]+)\s*(>=\s*[\w.]+)?\s*$")


def environment_requirements() -> dict[str, str]:
    found = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        match = REQUIREMENT.match(line)
        if match:
            found[match[1].lower()] = (match[2] or "").replace(" ", "")
    return found


def test_environment_carries_every_requirement_of_the_test_command() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    have = environment_requirements()
    missing = []
    for requirement in wanted:
        name, floor = re.match(r"([A-Za-z0-9_.\-\[\]]+)\s*(>=[\w.]+)?", requirement).groups()
        for conda_name in CONDA_NAMES.get(name, (name,)):
            if have.get(conda_name.lower()) != (floor or ""):
                missing.append(f"{conda_name}{floor or ''}")
    assert missing == [], f"environment.yml lacks {missing}"
