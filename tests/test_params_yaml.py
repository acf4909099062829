"""params.yaml is read exactly as DVC reads it (YAML 1.2, duplicate keys refused): what
`dvc exp run -S` writes is what the stages train with and what `dvc params diff` shows."""

import json
from pathlib import Path

import pytest

from helpers import commit, run, tool_env
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.params import load_params, read_params

# Values as a user types them after -S (or by hand): under YAML 1.1 (PyYAML) several of them
# read differently: '1e-05' is a string, 010 is 8, yes and on are true.
OVERRIDES = {
    "exponent": "1e-05", "short_exponent": "1e-5", "signed_exponent": "+1.5e-3",
    "negative_exponent": "-2E-4", "leading_zero": "010", "word_yes": "yes", "word_on": "on",
    "word_true": "true", "text": "adamw", "integer": "7",
}  # fmt: skip


@pytest.fixture(scope="module")
def dvc_probe(tmp_path_factory):
    """A repository whose one stage depends on a `probe` params section, after
    `dvc exp run -S probe.<key>=<value>` for every override: (repo, what DVC shows)."""
    repo = tmp_path_factory.mktemp("probe")
    (repo / "params.yaml").write_text("probe:\n" + "".join(f"  {k}: 0\n" for k in OVERRIDES))
    (repo / "dvc.yaml").write_text(
        "stages:\n  probe:\n    cmd: python -c pass\n    params:\n      - probe\n"
    )
    env = tool_env()
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run(["dvc", "init", "-q"], repo, env)
    commit(repo, env, "probe")
    sets = [arg for key, value in OVERRIDES.items() for arg in ("-S", f"probe.{key}={value}")]
    run(["dvc", "exp", "run", *sets], repo, env)
    diff = json.loads(run(["dvc", "params", "diff", "--all", "--json"], repo, env).stdout)
    shown = {key.split(".", 1)[1]: change["new"] for key, change in diff["params.yaml"].items()}
    return repo, shown


@pytest.mark.heavy
def test_dvc_wrote_every_override(dvc_probe):
    _, shown = dvc_probe
    assert set(shown) == set(OVERRIDES)


@pytest.mark.heavy
@pytest.mark.parametrize("key", sorted(OVERRIDES))
def test_the_stages_read_what_dvc_shows(dvc_probe, key):
    repo, shown = dvc_probe
    read = read_params(repo / "params.yaml")["probe"][key]
    assert read == shown[key] and type(read) is type(shown[key])


def test_an_exponent_float_trains(tmp_path):
    """The case of `dvc exp run -S train.weight_decay=1e-5`: a number, not the string."""
    params = (Path(__file__).parents[1] / "params.yaml").read_text()
    path = tmp_path / "params.yaml"
    path.write_text(params.replace("weight_decay: 0.0", "weight_decay: 1e-05"))
    assert load_params(path).train.weight_decay == 1e-05


def test_yes_is_not_true(tmp_path):
    """DVC reads `nesterov: yes` as the string 'yes'; the stage says so instead of guessing."""
    params = (Path(__file__).parents[1] / "params.yaml").read_text()
    path = tmp_path / "params.yaml"
    path.write_text(params.replace("nesterov: false", "nesterov: yes"))
    with pytest.raises(PipelineError, match="train.nesterov: expected true or false, got 'yes'"):
        load_params(path)


def test_a_duplicate_key_is_refused_naming_it(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  lr: 0.1\n  lr: 0.2\n")
    with pytest.raises(PipelineError, match=r'params.yaml: not valid YAML: .*duplicate key "lr"'):
        read_params(path)


def test_dvc_exp_run_s_leaves_params_yaml_as_written_when_no_value_changes(tmp_path):
    """`dvc exp run -S` rewrites the whole file (dvc.utils.hydra.apply_overrides): laid out as
    DVC writes YAML, params.yaml keeps every comment and line."""
    from dvc.utils.hydra import apply_overrides

    original = (Path(__file__).parents[1] / "params.yaml").read_text()
    path = tmp_path / "params.yaml"
    path.write_text(original)
    seed = read_params(path)["train"]["seed"]
    apply_overrides(str(path), [f"train.seed={seed}", f"dataset={read_params(path)['dataset']}"])
    assert path.read_text() == original
