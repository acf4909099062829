"""dvc.yaml must list exactly what each stage reads, or DVC re-runs too much or too little."""

import json
import re
import subprocess
import sys

import pytest
import yaml

from helpers import ROOT, resolved_stages, stage_command
from mnist_pipeline.params import Params

DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = DVC_YAML["stages"]

LIST_IMPORTS = """
import importlib.util, json, os, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))  # as when the script runs: its folder first
spec = importlib.util.spec_from_file_location("stage_under_test", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))  # not __main__: main() is not run
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "mnist_pipeline")))
"""


@pytest.mark.parametrize("name", list(STAGES))
def test_src_deps_are_exactly_the_modules_the_script_imports(name):
    script = ROOT / "stages" / f"{name}.py"
    out = subprocess.run(
        [sys.executable, "-c", LIST_IMPORTS, str(script)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    modules = json.loads(out)
    imported = {
        "src/mnist_pipeline/"
        + ("__init__" if m == "mnist_pipeline" else m.split(".", 1)[1])
        + ".py"
        for m in modules
    }
    deps = STAGES[name]["deps"]
    assert f"stages/{name}.py" in deps and "stages/bootstrap.py" in deps
    assert {d for d in deps if d.startswith("src/")} == imported


@pytest.mark.parametrize("name", list(STAGES))
def test_each_cmd_passes_exactly_the_data_the_stage_declares(name):
    """The paths a stage's script is given are exactly its data deps and its outputs (outs,
    metrics and plots), so dvc.yaml is the one place they are written. The one folder given
    instead is DVCLive's, whose layout inside DVCLive fixes: it must hold declared paths."""
    resolved = resolved_stages()[name]
    words = stage_command(name)[2:]  # after the interpreter and the script
    flags, given = words[0::2], words[1::2]
    assert all(flag.startswith("--") for flag in flags) and len(flags) == len(given), words
    code = (f"stages/{name}.py", "stages/bootstrap.py", "src/")
    data_deps = {str(d.def_path) for d in resolved.deps if not str(d.def_path).startswith(code)}
    outputs = {str(out.def_path) for out in resolved.outs}  # outs, metrics and plots
    declared = data_deps | outputs
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
    "dataset": {"fetch", "train", "evaluate", "plot"},
    "log_every": set(),
    "fetch": {"fetch"},
    "prepare": {"prepare"},
    "train": {"train"},
}


def test_each_param_is_a_dependency_of_exactly_the_stages_it_can_change():
    assert set(STAGES_OF_EACH_PARAM) == set(Params.model_fields)
    assert set(yaml.safe_load((ROOT / "params.yaml").read_text())) == set(Params.model_fields)
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
    in_git = {str(out.def_path) for out in outputs if not out.use_cache}
    assert in_git == {
        "metrics/train/metrics.json",
        "metrics/metrics.json",
        "metrics/plots/confusion.csv",
        "metrics/plots/per_class.csv",
        "metrics/plots/learning_curves.png",
        "metrics/plots/confusion.png",
        "metrics/plots/misclassified.png",
    }


def test_the_core_never_imports_the_apps():
    """Data flows one way: the apps use the core; a core module importing an app would make a
    change to the app re-run stages. (`python -m mnist_pipeline` starts the CLI: not core.)"""
    core = [p for p in (ROOT / "src/mnist_pipeline").glob("*.py") if p.name != "__main__.py"]
    uses_apps = re.compile(r"^\s*from \.apps\b|^\s*from \. import .*\bapps\b", re.M)
    assert [p.name for p in core if uses_apps.search(p.read_text())] == []
    deps = {d for stage in STAGES.values() for d in stage["deps"]}
    assert not [d for d in deps if d.startswith("src/mnist_pipeline/apps/")]
