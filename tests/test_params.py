from pathlib import Path

import pytest

from helpers import ROOT
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.params import (
    FetchParams,
    PrepareParams,
    TrainParams,
    load_params,
    parse_section,
)  # fmt: skip

GOOD_TRAIN = {
    "seed": 0, "epochs": 50, "batch_size": 10, "lr": 0.005, "optimizer": "sgd", "momentum": 0.0,
    "nesterov": False, "weight_decay": 0.0, "schedule": "constant", "augment_shift": 0.0,
    "augment_rotate": 0.0, "log_every": 5, "threads": 1, "numerics": "portable", "device": "cpu",
}  # fmt: skip


def test_the_shipped_params_file_is_valid():
    for section, cls in [
        ("fetch", FetchParams),
        ("prepare", PrepareParams),
        ("train", TrainParams),
    ]:
        load_params(ROOT / "params.yaml", section, cls)


def test_shipped_defaults_are_the_reference_recipe():
    train = load_params(ROOT / "params.yaml", "train", TrainParams)
    prepare = load_params(ROOT / "params.yaml", "prepare", PrepareParams)
    assert (train.epochs, train.batch_size, train.lr) == (50, 10, 0.005)
    assert (prepare.n_train, prepare.n_val, prepare.n_test) == (1000, 1000, 100)
    assert prepare.selection == "first"


def test_an_integer_is_accepted_as_a_float():
    assert parse_section(TrainParams, "train", {**GOOD_TRAIN, "lr": 1}).lr == 1.0


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"lrr": 0.1}, "params: train.lrr: unknown key"),
        ({"epochs": "50"}, "params: train.epochs: expected an integer, got '50'"),
        ({"epochs": 2.5}, "params: train.epochs: expected an integer, got 2.5"),
        ({"epochs": True}, "params: train.epochs: expected an integer, got True"),
        ({"lr": "fast"}, "params: train.lr: expected a finite number, got 'fast'"),
        ({"lr": -1}, "params: train.lr: expected a number > 0"),
        ({"lr": float("inf")}, "params: train.lr: expected a finite number, got inf"),
        ({"weight_decay": float("nan")}, "params: train.weight_decay: expected a finite number"),
        ({"lr": 10**400}, "params: train.lr: expected a finite number, got 1000"),
        ({"seed": -1}, "params: train.seed: expected an integer from 0 to 2**63 - 1"),
        ({"seed": 2**64}, "params: train.seed: expected an integer from 0 to 2**63 - 1"),
        ({"threads": 2**31}, "params: train.threads: expected an integer from 1 to 256"),
        ({"epochs": 0}, "params: train.epochs: expected an integer >= 1"),
        (
            {"optimizer": "adam"},
            "params: train.optimizer: expected one of 'sgd', 'adamw', got 'adam'",
        ),
        ({"nesterov": True}, "params: train.nesterov: expected false unless"),
        ({"nesterov": "yes"}, "params: train.nesterov: expected true or false, got 'yes'"),
        ({"schedule": "cosine"}, "params: train.schedule: expected one of 'constant', 'onecycle'"),
        (
            {"augment_rotate": 90},
            "params: train.augment_rotate: expected a number of degrees, 0-45",
        ),
        ({"device": "tpu"}, "params: train.device: expected one of 'auto', 'cpu', 'cuda'"),
        ({"numerics": "fast"}, "params: train.numerics: expected one of 'portable', 'native'"),
    ],
)
def test_bad_train_values_name_the_key(changes, message):
    with pytest.raises(PipelineError) as error:
        parse_section(TrainParams, "train", {**GOOD_TRAIN, **changes})
    assert str(error.value).startswith(message)


def test_a_yaml_alias_bomb_is_refused_in_one_short_line(tmp_path: Path):
    """Ten aliases a level, seven levels: 10**7 values when expanded, 2 KB as written."""
    levels = ["l0: &l0 [" + ", ".join(["x"] * 10) + "]"]
    for k in range(1, 7):
        levels.append(f"l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * 10) + "]")
    text = (ROOT / "params.yaml").read_text().replace("  epochs: 50", "  epochs: *l6")
    (tmp_path / "p.yaml").write_text("bomb:\n" + "".join(f"  {line}\n" for line in levels) + text)
    with pytest.raises(PipelineError) as error:
        load_params(tmp_path / "p.yaml", "train", TrainParams)
    message = str(error.value)
    assert message.startswith("params: train.epochs: expected an integer, got [[")
    assert len(message) < 300 and "\n" not in message


def test_prepare_seed_must_not_be_negative():
    values = {"n_train": 10, "n_val": 10, "n_test": 10, "selection": "random", "seed": -1}
    with pytest.raises(PipelineError, match="prepare.seed: expected an integer from 0"):
        parse_section(PrepareParams, "prepare", values)


def test_missing_key_and_bad_choice():
    values = dict(GOOD_TRAIN)
    del values["seed"]
    with pytest.raises(PipelineError, match="train.seed: missing"):
        parse_section(TrainParams, "train", values)
    bad = {"n_train": 10, "n_val": 10, "n_test": 10, "selection": "best", "seed": 0}
    with pytest.raises(PipelineError, match="prepare.selection: expected one of 'first'"):
        parse_section(PrepareParams, "prepare", bad)
    with pytest.raises(
        PipelineError, match="fetch.sources: expected a mapping of strings to lists of strings"
    ):
        parse_section(
            FetchParams, "fetch", {"dataset": "mnist", "sources": {"mnist": "x"}, "md5": {}}
        )
    with pytest.raises(PipelineError, match="fetch.sources.emnist: expected a data set name"):
        parse_section(
            FetchParams, "fetch", {"dataset": "mnist", "sources": {"emnist": []}, "md5": {}}
        )


def test_file_level_errors(tmp_path: Path):
    with pytest.raises(PipelineError, match="params file not found"):
        load_params(tmp_path / "none.yaml", "train", TrainParams)
    (tmp_path / "p.yaml").write_text("train: [unclosed\n")
    with pytest.raises(PipelineError, match="not valid YAML"):
        load_params(tmp_path / "p.yaml", "train", TrainParams)
    (tmp_path / "p.yaml").write_text("prepare: {}\n")
    with pytest.raises(PipelineError, match="missing section 'train'"):
        load_params(tmp_path / "p.yaml", "train", TrainParams)
