from pathlib import Path

import pytest

from helpers import ROOT
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.params import Params, load_params

PARAMS = ROOT / "params.yaml"


def test_the_shipped_params_file_is_valid_and_is_the_reference_recipe():
    params = load_params(PARAMS)
    assert isinstance(params, Params) and params.dataset == "mnist"
    assert (params.train.epochs, params.train.batch_size, params.train.lr) == (50, 10, 0.005)
    assert (params.prepare.n_train, params.prepare.n_val, params.prepare.n_test) == (
        1000,
        1000,
        100,
    )
    assert params.prepare.selection == "first"


def test_overrides_apply_as_dvc_exp_run_s_does():
    params = load_params(PARAMS, {"train.epochs": 3, "dataset": "fashion-mnist"})
    assert params.train.epochs == 3 and params.data.name == "fashion-mnist"
    assert params.train.lr == load_params(PARAMS).train.lr  # the rest from the file


def test_epochs_may_be_fractional():
    assert load_params(PARAMS, {"train.epochs": 1.5}).train.epochs == 1.5


def test_an_integer_is_accepted_as_a_float():
    lr = load_params(PARAMS, {"train.lr": 1}).train.lr
    assert lr == 1.0 and type(lr) is float  # the checkpoint records a float, as YAML's 1.0


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"train.lrr": 0.1}, "params: train.lrr: unknown key (known: seed, epochs,"),
        ({"lr": 0.1}, "params: lr: unknown key (known: dataset, log_every, fetch,"),
        ({"train.epochs": "50"}, "params: train.epochs: expected a number, got '50'"),
        ({"train.epochs": True}, "params: train.epochs: expected a number, got True"),
        ({"train.epochs": -1.5}, "params: train.epochs: input should be greater than 0, got -1.5"),
        ({"train.lr": "fast"}, "params: train.lr: expected a number, got 'fast'"),
        ({"train.lr": -1}, "params: train.lr: input should be greater than 0, got -1"),
        ({"train.lr": float("inf")}, "params: train.lr: expected a finite number, got inf"),
        ({"train.weight_decay": float("nan")}, "params: train.weight_decay: expected a finite"),
        ({"train.lr": 10**400}, "params: train.lr: expected a number, got 1000"),
        ({"train.seed": -1}, "params: train.seed: input should be greater than or equal to 0"),
        (
            {"train.seed": 2**64},
            "params: train.seed: input should be less than 9223372036854775808",
        ),
        (
            {"train.threads": 2**31},
            "params: train.threads: input should be less than or equal to 256",
        ),
        ({"train.epochs": 0}, "params: train.epochs: input should be greater than 0, got 0"),
        (
            {"train.precision": "fp16"},
            "params: train.precision: expected 'auto', 'fp32' or 'bf16', got 'fp16'",
        ),
        # The choices' start only: a new optimizer or data set changes no test here.
        ({"train.optimizer": "adam"}, "params: train.optimizer: expected 'sgd'"),
        ({"train.nesterov": True}, "params: train.nesterov: expected false unless"),
        (
            {"train.optimizer": "adamw", "train.momentum": 0.9},
            "params: train.momentum: expected 0 unless train.optimizer is sgd, got 0.9",
        ),
        ({"train.nesterov": "yes"}, "params: train.nesterov: expected true or false, got 'yes'"),
        ({"train.schedule": "cosine"}, "params: train.schedule: expected 'constant' or 'onecycle'"),
        (
            {"train.augment_rotate": 90},
            "params: train.augment_rotate: input should be less than or equal to 45",
        ),
        ({"train.device": "tpu"}, "params: train.device: expected 'auto', 'cpu' or 'cuda'"),
        ({"train.numerics": "fast"}, "params: train.numerics: expected 'portable' or 'native'"),
        ({"prepare.selection": "best"}, "params: prepare.selection: expected 'first', 'random'"),
        ({"prepare.seed": -1}, "params: prepare.seed: input should be greater than or equal to 0"),
        ({"log_every": 0}, "params: log_every: input should be greater than or equal to 1"),
        ({"dataset": "emnist"}, "params: dataset: expected a data set name: mnist or "),
        (
            {"fetch.sources": {"emnist": []}},
            "params: fetch.sources.emnist: expected a data set name",
        ),
        (
            {"fetch.sources": {"mnist": "x"}},
            "params: fetch.sources.mnist: expected a list, got 'x'",
        ),
        ({"train": 5}, "params: train: expected a mapping of keys, got 5"),
        ({"train.lr": 1e39}, "params: train.lr: input should be less than or equal to 1000000"),
        ({"a\nb": 1}, "params: 'a\\nb': unknown key"),
    ],
)
def test_bad_values_name_the_key_in_one_line(changes, message):
    with pytest.raises(PipelineError) as error:
        load_params(PARAMS, changes)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_a_renamed_key_is_named_as_unknown_not_only_as_missing(tmp_path: Path):
    (tmp_path / "p.yaml").write_text(PARAMS.read_text().replace("  lr: 0.005", "  lrr: 0.005"))
    with pytest.raises(PipelineError, match=r"^params: train\.lrr: unknown key \(known: .*\blr\b"):
        load_params(tmp_path / "p.yaml")


def test_a_missing_key_or_section_is_named(tmp_path: Path):
    text = PARAMS.read_text()
    (tmp_path / "p.yaml").write_text(text.replace("  seed: 0\n  epochs: 50\n", "  epochs: 50\n"))
    with pytest.raises(PipelineError, match=r"^params: train\.seed: missing$"):
        load_params(tmp_path / "p.yaml")
    (tmp_path / "p.yaml").write_text("dataset: mnist\n")
    with pytest.raises(PipelineError, match=r"^params: log_every: missing$"):
        load_params(tmp_path / "p.yaml")


def test_a_yaml_alias_bomb_is_refused_in_one_short_line(tmp_path: Path):
    """Ten aliases a level, seven levels: 10**7 values when expanded, 1 KB as written."""
    levels = ["&l0 [" + ", ".join(["x"] * 10) + "]"]
    for k in range(1, 7):
        levels.append(f"&l{k} [" + ", ".join([f"*l{k - 1}"] * 10) + "]")
    bomb = "[" + ", ".join(levels) + "]"
    (tmp_path / "p.yaml").write_text(
        PARAMS.read_text().replace("  epochs: 50", f"  epochs: {bomb}")
    )
    with pytest.raises(PipelineError) as error:
        load_params(tmp_path / "p.yaml")
    message = str(error.value)
    assert message.startswith("params: train.epochs: expected a number, got [[")
    assert len(message) < 300 and "\n" not in message


def test_file_level_errors(tmp_path: Path):
    with pytest.raises(PipelineError, match="params file not found"):
        load_params(tmp_path / "none.yaml")
    (tmp_path / "p.yaml").write_text("train: [unclosed\n")
    with pytest.raises(PipelineError, match="not valid YAML"):
        load_params(tmp_path / "p.yaml")
    (tmp_path / "p.yaml").write_text("- a list\n")
    with pytest.raises(PipelineError, match="expected a mapping of sections"):
        load_params(tmp_path / "p.yaml")


@pytest.mark.parametrize(
    "value",
    ["!!int abc", '!!int ""', "!!bool maybe", "9" * 4400, "[" * 1000 + "]" * 1000],
    ids=["int-tag", "empty-int-tag", "bool-tag", "4400-digits", "1000-deep"],
)
def test_what_the_yaml_loader_cannot_build_is_one_line(tmp_path: Path, value):
    (tmp_path / "p.yaml").write_text(
        PARAMS.read_text().replace("log_every: 5", f"log_every: {value}")
    )
    with pytest.raises(PipelineError) as error:
        load_params(tmp_path / "p.yaml")
    assert str(error.value).startswith(f"{tmp_path / 'p.yaml'}: not valid YAML: ")
    assert "\n" not in str(error.value) and len(str(error.value)) < 400


def test_an_empty_params_file_is_called_empty(tmp_path: Path):
    (tmp_path / "p.yaml").write_text("# nothing yet\n")
    with pytest.raises(PipelineError, match="p.yaml: empty: expected a mapping of sections"):
        load_params(tmp_path / "p.yaml")
