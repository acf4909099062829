"""dvc.yaml must list exactly what each stage reads, or DVC re-runs too much or too little."""

import json
import subprocess
import sys

import pytest
import yaml

from helpers import ROOT
from mnist_pipeline.params import FetchParams, PrepareParams, TrainParams

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


def test_params_keys_exist_and_cover_the_sections_read():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    sections = {"fetch": FetchParams, "prepare": PrepareParams, "train": TrainParams}
    for stage in STAGES.values():
        for key in stage.get("params", []):
            section, field = key.split(".")
            assert field in params[section], key
    # A stage that loads a whole section must depend on all of its keys.
    for stage_name, section in [("prepare", "prepare"), ("train", "train")]:
        listed = {k.split(".")[1] for k in STAGES[stage_name]["params"] if k.startswith(section)}
        assert listed == set(sections[section].__dataclass_fields__)


def test_metrics_and_plot_data_are_tracked_by_git_and_data_by_dvc():
    outs = {}
    for stage in STAGES.values():
        for kind in ("outs", "metrics"):
            for out in stage.get(kind, []):
                path, options = next(iter(out.items())) if isinstance(out, dict) else (out, {})
                outs[path] = options.get("cache", True)
    assert all(not cached for path, cached in outs.items() if path.startswith("metrics/"))
    assert all(outs[path] for path in ["data/raw", "data/prepared/train.tsv", "models/model.pt"])
