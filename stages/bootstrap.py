"""Imported first by every stage script, before anything of the project.

- The stage runs on this checkout's own src/: a queued experiment runs in a copy of the
  repository, and must use the copy's code (which dvc.lock records), not whatever checkout the
  installed package points to.
- A Python that lacks the project's packages (`dvc repro` run without the venv's python first
  on PATH) ends the stage with one line saying which interpreter ran and what to do.
"""

import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

NEEDED = ("numpy", "ruamel.yaml", "torch", "pandas", "matplotlib", "dvclive")


def _missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing (ruamel)
        return True


missing = [name for name in NEEDED if _missing(name)]
if missing:
    print(
        f"error: {sys.executable} lacks the project's packages ({', '.join(missing)}): "
        "run `source .venv/bin/activate` first (or `make repro`, which makes the venv)",
        file=sys.stderr,
    )
    sys.exit(1)
