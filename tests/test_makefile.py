"""The Makefile's recipe experiments start from the committed params.yaml."""

import re
import subprocess

import pytest
from ruamel.yaml import YAML

from helpers import ROOT

COMMITTED = YAML(typ="safe").load(
    subprocess.run(
        ["git", "show", "HEAD:params.yaml"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
)


def recipe_settings(target: str) -> dict[str, str]:
    """{key: value} of the `-S key=value` that `make TARGET` passes to `dvc exp run`."""
    shown = subprocess.run(
        ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    [command] = [line for line in shown.splitlines() if line.startswith("dvc exp run")]
    settings = re.findall(r"-S (\S+?)=(\S+)", command)
    assert len(settings) == len(dict(settings))  # each key once
    return dict(settings)


@pytest.mark.parametrize("target", ["reference-10k", "small-data", "full-scale", "fast"])
def test_a_recipe_sets_every_key_it_may_change_from_the_committed_params(target):
    settings = recipe_settings(target)
    sections = ("prepare", "train")
    expected = {"dataset"} | {f"{s}.{k}" for s in sections for k in COMMITTED[s]}
    assert set(settings) == expected  # a previous experiment's values cannot leak in
    assert settings["dataset"] == COMMITTED["dataset"]
    assert settings["train.seed"] == str(COMMITTED["train"]["seed"])


def test_a_recipe_changes_what_it_lists_and_nothing_else():
    full_scale = recipe_settings("full-scale")
    assert full_scale["prepare.n_train"] == "59000" and full_scale["train.optimizer"] == "adamw"
    assert full_scale["train.numerics"] == COMMITTED["train"]["numerics"]
    assert full_scale["train.nesterov"] == str(COMMITTED["train"]["nesterov"]).lower()
