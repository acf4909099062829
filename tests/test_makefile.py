"""The Makefile's recipe experiments: plain commands that start from the committed params.yaml
and set only the recipe's own changes."""

import os
import re
import subprocess

import pytest
from dvc.utils.hydra import apply_overrides

from helpers import ROOT
from mnist_pipeline.params import Params, load_params

RESTORE = "git checkout HEAD -- params.yaml"
RECIPES = ["reference-10k", "small-data", "full-scale", "fast"]


def recipe_commands(target: str) -> list[str]:
    """The shell commands `make TARGET` runs, continuation lines joined (the venv and the
    offline page taken as made: only the recipe's own commands), as a user's `make -n` shows
    them: not as a sub-make of `make test`."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    shown = subprocess.run(
        ["make", "-n", "-o", ".venv/.run-installed", "-o", "offline-page", "-o", "params-backup",
         target],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return shown.replace("\\\n", " ").splitlines()


def recipe_settings(target: str) -> list[str]:
    """The `key=value` of each `-S` that `make TARGET` passes to `dvc exp run`."""
    [command] = [line for line in recipe_commands(target) if line.startswith("dvc exp run")]
    return re.findall(r"-S (\S+)", command)


def recipe_params(target: str, tmp_path) -> Params:
    """The params the recipe's experiment runs with: its `-S` applied by DVC's own code to the
    committed params.yaml, as the shell passes them ($(nproc) filled in)."""
    committed = subprocess.run(
        ["git", "show", "HEAD:params.yaml"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    path = tmp_path / "params.yaml"
    path.write_text(committed)
    settings = [s.replace("$(nproc)", str(os.cpu_count())) for s in recipe_settings(target)]
    apply_overrides(path, settings)
    return load_params(path)  # a key or value no params.yaml takes fails here


@pytest.mark.parametrize("target", RECIPES)
def test_a_recipe_restores_the_committed_params_then_sets_each_change_once(target):
    commands = recipe_commands(target)
    assert commands[0] == RESTORE  # a previous experiment's values cannot leak in
    assert [c.split(" -S")[0] for c in commands[1:]] == [f"dvc exp run -n {target}"]
    keys = [setting.split("=", 1)[0] for setting in recipe_settings(target)]
    assert len(keys) == len(set(keys))


def test_a_recipe_changes_what_it_lists_and_nothing_else(tmp_path):
    committed = load_params(ROOT / "params.yaml")
    full_scale = recipe_params("full-scale", tmp_path)
    assert full_scale.prepare.n_train == 59000 and full_scale.train.optimizer == "adamw"
    assert full_scale.train.epochs == 3 and full_scale.train.threads == 2
    assert full_scale.train.numerics == committed.train.numerics == "portable"
    assert full_scale.train.seed == committed.train.seed
    assert full_scale.dataset == committed.dataset and full_scale.prepare.n_val == 1000


def test_small_data_sets_its_values_with_their_types(tmp_path):
    small = recipe_params("small-data", tmp_path).train
    assert small.nesterov is True and small.momentum == 0.9 and small.optimizer == "sgd"
    assert (small.epochs, small.batch_size, small.augment_rotate) == (100, 32, 10)


def test_fast_trains_on_every_core_in_native_numerics(tmp_path):
    assert "train.threads=$(nproc)" in recipe_settings("fast")  # the shell counts, when it runs
    fast = recipe_params("fast", tmp_path).train
    assert fast.threads == os.cpu_count() and fast.numerics == "native"
    assert fast.epochs == 1.5 and fast.precision == "auto"
