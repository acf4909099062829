"""pyproject.toml declares every third-party package the code imports: src/ and stages/ in
its dependencies, tests/ and bench/ in those or the `test` extra (requirements/*.lock are
compiled from it, so a package missing there is missing from a fresh venv)."""

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helpers import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]}
TEST = RUNTIME | {
    canonicalize_name(Requirement(r).name) for r in PROJECT["optional-dependencies"]["test"]
}
# The project's own modules: the package, and the scripts' neighbours they import directly.
LOCAL = {"mnist_pipeline"} | {
    path.stem for folder in ("stages", "tests", "bench") for path in (ROOT / folder).glob("*.py")
}


def imported(folder: Path) -> set[str]:
    """The top-level names of every absolute import in the .py files under `folder`."""
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def undeclared(folders: list[Path], declared: set[str], local: set[str]) -> list[str]:
    """'module (distributions)' for each third-party import no declared distribution provides."""
    distributions = importlib.metadata.packages_distributions()
    modules = set().union(*map(imported, folders)) - sys.stdlib_module_names - local
    problems = []
    for module in sorted(modules):
        provided_by = {canonicalize_name(name) for name in distributions.get(module, [])}
        if not provided_by & declared:
            problems.append(f"{module} ({', '.join(sorted(provided_by)) or 'not installed'})")
    return problems


def test_src_and_stages_import_only_declared_dependencies():
    assert undeclared([ROOT / "src", ROOT / "stages"], RUNTIME, LOCAL) == []


def test_tests_and_bench_import_only_declared_or_test_dependencies():
    assert undeclared([ROOT / "tests", ROOT / "bench"], TEST, LOCAL) == []


def test_an_undeclared_import_is_named_with_its_distribution(tmp_path):
    (tmp_path / "module.py").write_text(
        "import json\nimport numpy as np\nfrom PIL import Image\nimport yaml\n"
        "from ruamel.yaml import YAML\nimport mnist_pipeline.idx\nimport no_such_module\n"
        "from . import sibling\n"
    )
    found = undeclared([tmp_path], RUNTIME, {"mnist_pipeline"})
    assert found == ["no_such_module (not installed)", "yaml (pyyaml)"]
