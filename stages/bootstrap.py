"""Imported first by every stage script, before anything of the project.

- The stage runs on this checkout's own src/: a queued experiment runs in a copy of the
  repository, and must use the copy's code (which dvc.lock records), not whatever checkout the
  installed package points to.
- A Python that lacks the project's packages (`dvc repro` run without the venv's python first
  on PATH) ends the stage with one line saying which interpreter ran and what to do. The
  packages are those pyproject.toml declares, their one home.
"""

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _missing(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return True
    return False


with open(ROOT / "pyproject.toml", "rb") as file:
    requirements = tomllib.load(file)["project"]["dependencies"]
# A PEP 508 requirement starts with the distribution's name: "torch==2.13.0".
names = [re.split(r"[^A-Za-z0-9._-]", requirement, maxsplit=1)[0] for requirement in requirements]
missing = [name for name in names if _missing(name)]
if missing:
    print(
        f"error: {sys.executable} lacks the project's packages ({', '.join(missing)}): "
        "run `source .venv/bin/activate` first (or `make repro`, which makes the venv)",
        file=sys.stderr,
    )
    sys.exit(1)
