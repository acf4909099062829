"""dvc.yaml must list exactly what each stage reads, or DVC re-runs too much or too little."""

import json
import subprocess
import sys

import pytest
import yaml

from helpers import ROOT
from mnist_pipeline.params import FetchParams, PrepareParams, TrainParams, print_only_keys

DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = DVC_YAML["stages"]

LIST_IMPORTS = """
import importlib.util, json, sys
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
    assert f"stages/{name}.py" in deps and STAGES[name]["cmd"] == f"python stages/{name}.py"
    assert {d for d in deps if d.startswith("src/")} == imported


def expected_stages_of_each_param() -> dict[str, set[str]]:
    """Every params.yaml key and the stages that must list it in dvc.yaml: a section's stage
    lists all its keys but the print-only ones, which no stage lists (they re-run nothing);
    fetch.dataset also names the classes for train (the checkpoint) and plot."""
    expected = {}
    for section, cls in {
        "fetch": FetchParams,
        "prepare": PrepareParams,
        "train": TrainParams,
    }.items():
        for name in cls.__dataclass_fields__:
            printing = name in print_only_keys(cls)
            expected[f"{section}.{name}"] = set() if printing else {section}
    expected["fetch.dataset"] |= {"train", "plot"}
    return expected


def test_each_param_is_a_dependency_of_exactly_the_stages_it_can_change():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    in_params_yaml = {f"{section}.{key}" for section, keys in params.items() for key in keys}
    listed = {key: set() for key in in_params_yaml}
    for name, stage in STAGES.items():
        for key in stage.get("params", []):
            listed.setdefault(key, set()).add(name)
    assert listed == expected_stages_of_each_param()
    assert print_only_keys(TrainParams) == {"log_every"}


def test_metrics_and_plot_data_are_tracked_by_git_and_data_by_dvc():
    outs = {}
    for stage in STAGES.values():
        for kind in ("outs", "metrics"):
            for out in stage.get(kind, []):
                path, options = next(iter(out.items())) if isinstance(out, dict) else (out, {})
                outs[path] = options.get("cache", True)
    assert all(not cached for path, cached in outs.items() if path.startswith("metrics/"))
    assert all(
        outs[path]
        for path in [
            "data/raw",
            "data/prepared/train.tsv",
            "data/prepared/val.tsv",
            "models/model.pt",
        ]
    )
