"""dvc.yaml must list exactly what can change each stage's outputs, or DVC re-runs too much
or too little."""

import ast
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from helpers import ROOT, plumbing, resolved_stages, stage_command
from mnist_pipeline.params import Params, read_params

DVC_YAML = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())  # as DVC reads it
STAGES = DVC_YAML["stages"]

PLUMBING = plumbing()
TYPE_CHECKING = ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def module_file(name: str, folders: list[Path]) -> Path | None:
    """The file of module `name` ("mnist_pipeline.tsv") in the first of `folders` holding it,
    as Python finds it on its path; None for a name that is not a module (a class, say)."""
    for folder in folders:
        path = folder.joinpath(*name.split("."))
        for candidate in (path / "__init__.py", path.with_suffix(".py")):
            if candidate.is_file():
                return candidate
    return None


def imported_names(path: Path, src: Path) -> Iterator[str]:
    """Every module name `path` imports, made absolute, with a `from` import's names too (they
    may be modules). Imports inside functions count (they run when the stage calls them);
    those under `if TYPE_CHECKING:` never run, and do not count."""
    package = path.parent.relative_to(src).parts if path.is_relative_to(src) else ()
    nodes = list(ast.parse(path.read_text()).body)
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test) in TYPE_CHECKING:
            nodes.extend(node.orelse)
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = [*package[: len(package) - node.level + 1]] if node.level else []
            base = ".".join([*parts, node.module] if node.module else parts)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        else:
            nodes.extend(ast.iter_child_nodes(node))


def imported_files(script: Path, root: Path = ROOT) -> set[str]:
    """The project files (relative to `root`) the stage script imports, directly or through
    each other, found as when it runs: its own folder first on the path, then src/; a
    package's __init__.py with each of its modules."""
    folders = [script.parent, root / "src"]
    found, todo = set(), [script]
    while todo:
        for name in imported_names(todo.pop(), root / "src"):
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # importing a.b imports a first
                path = module_file(".".join(parts[:depth]), folders)
                if path is not None and path not in found:
                    found.add(path)
                    todo.append(path)
    return {path.relative_to(root).as_posix() for path in found}


@pytest.mark.parametrize("name", list(STAGES))
def test_code_deps_are_exactly_the_imported_modules_that_can_change_outputs(name):
    """A module a stage imports is either one of its deps or plumbing: one on neither list
    could change an output without DVC seeing it; a dep it does not import, or a plumbing one,
    re-runs the stage for nothing."""
    imported = imported_files(ROOT / "stages" / f"{name}.py")
    code = {d for d in STAGES[name]["deps"] if d.startswith(("stages/", "src/"))}
    assert code - {f"stages/{name}.py"} - imported == set(), "deps the stage does not import"
    assert code & set(PLUMBING) == set(), "plumbing listed as deps: move them out of deps"
    assert imported - set(PLUMBING) - code == set(), (
        "imported, on neither list: add each to deps, or to dvc.yaml's plumbing with why it "
        "cannot change an output"
    )
    assert f"stages/{name}.py" in code


def test_plumbing_is_code_some_stage_imports_each_with_why():
    imported = set().union(*(imported_files(ROOT / "stages" / f"{name}.py") for name in STAGES))
    assert set(PLUMBING) <= imported, "plumbing no stage imports: remove it from the list"
    assert all(isinstance(why, str) and why.strip() for why in PLUMBING.values())


def test_imports_are_found_inside_functions_but_not_for_type_checking(tmp_path):
    """The import finder itself: a lazy import is one the stage runs; a typing-only one is not."""
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "stages").mkdir()
    for module in ("__init__", "eager", "lazy", "typing_only", "unused"):
        (tmp_path / "src" / "pkg" / f"{module}.py").write_text("")
    (tmp_path / "src" / "pkg" / "eager.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import typing_only\n"
        "def f():\n    from .lazy import thing\n"
    )
    (tmp_path / "stages" / "helper.py").write_text("")
    (tmp_path / "stages" / "s.py").write_text("import helper\nfrom pkg import eager\n")
    assert imported_files(tmp_path / "stages" / "s.py", tmp_path) == {
        "stages/helper.py", "src/pkg/__init__.py", "src/pkg/eager.py", "src/pkg/lazy.py",
    }  # fmt: skip


@pytest.mark.parametrize("name", list(STAGES))
def test_each_cmd_passes_exactly_the_data_the_stage_declares(name):
    """The paths a stage's script is given are exactly its data deps and its outputs (outs,
    metrics and plots), so dvc.yaml is the one place they are written. The one folder given
    instead is DVCLive's, whose layout inside DVCLive fixes: it must hold declared paths."""
    resolved = resolved_stages()[name]
    words = stage_command(name)[2:]  # after the interpreter and the script
    flags, given = words[0::2], words[1::2]
    assert all(flag.startswith("--") for flag in flags) and len(flags) == len(given), words
    code = ("stages/", "src/")
    data_deps = {str(d.def_path) for d in resolved.deps if not str(d.def_path).startswith(code)}
    outputs = {str(out.def_path) for out in resolved.outs}  # outs, metrics and plots
    declared = data_deps | outputs | {"params.yaml"}  # script.parser's --params: every stage's
    history = DVC_YAML["vars"][0]["paths"]["history"]
    inside_history = {path for path in declared if path.startswith(f"{history}/")}
    assert set(given) == declared - inside_history | ({history} if inside_history else set())
    assert len(set(given)) == len(given)  # each path once


def test_stage_scripts_keep_no_paths_of_their_own():
    for script in (ROOT / "stages").glob("*.py"):
        text = script.read_text()
        if script.name != "bootstrap.py":  # it comes before every other import
            imports = [line for line in text.splitlines() if line.startswith(("import ", "from "))]
            assert imports[0].startswith("import bootstrap"), script
        assert "default=Path(" not in text and "data/" not in text and "metrics/" not in text, (
            script
        )


# Each top-level key of params.yaml and the stages that must list it in dvc.yaml: a section
# by the stage of its name, whole (as DVC's examples do); `dataset` by every stage that reads
# the data set or its class names; the print-only `log_every` by none, so it re-runs nothing.
STAGES_OF_EACH_PARAM = {
    "dataset": {"fetch", "prepare", "train", "evaluate", "plot"},
    "log_every": set(),
    "fetch": {"fetch"},
    "prepare": {"prepare"},
    "train": {"train"},
}


def test_each_param_is_a_dependency_of_exactly_the_stages_it_can_change():
    assert set(STAGES_OF_EACH_PARAM) == set(Params.model_fields)
    assert set(read_params(ROOT / "params.yaml")) == set(Params.model_fields)
    listed: dict[str, set[str]] = {key: set() for key in STAGES_OF_EACH_PARAM}
    for name, stage in STAGES.items():
        for key in stage.get("params", []):
            listed.setdefault(key, set()).add(name)
    assert listed == STAGES_OF_EACH_PARAM


def test_git_tracks_only_metrics_and_plots_so_every_stage_keeps_the_run_cache():
    """DVC saves no run-cache entry for a stage with a `cache: false` output that is neither a
    metric nor a plot (dvc/stage/__init__.py, Stage.run), and then a run made before is run
    again instead of restored. The headline metrics and the charts stay in git."""
    outputs = [out for stage in resolved_stages().values() for out in stage.outs]
    assert all(out.use_cache or out.metric or out.plot for out in outputs)
    in_git = [str(out.def_path) for out in outputs if not out.use_cache]
    in_cache = [str(out.def_path) for out in outputs if out.use_cache]
    assert in_git and all(path.startswith("metrics/") for path in in_git)
    # git agrees: what DVC leaves to git is not ignored, what DVC caches is.
    assert [path for path in in_git if git_ignores(path)] == []
    assert [path for path in in_cache if not git_ignores(path)] == []


def git_ignores(path: str) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0


def test_the_core_never_imports_the_apps():
    """Data flows one way: the apps use the core; a core module importing an app would make a
    change to the app re-run stages. (`python -m mnist_pipeline` starts the CLI: not core.)"""
    core = [p for p in (ROOT / "src/mnist_pipeline").glob("*.py") if p.name != "__main__.py"]
    uses_apps = re.compile(r"^\s*from \.apps\b|^\s*from \. import .*\bapps\b", re.M)
    assert [p.name for p in core if uses_apps.search(p.read_text())] == []
    deps = {d for stage in STAGES.values() for d in stage["deps"]}
    assert not [d for d in deps if d.startswith("src/mnist_pipeline/apps/")]
