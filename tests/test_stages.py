"""The stage scripts as DVC runs them: outputs on success; on a user's mistake one line,
exit 1, and nothing written."""

import json

import pytest

from conftest import SMALL_RUN
from helpers import copy_project, resolved_stages, run, stage_command, tool_env, update_params

pytestmark = pytest.mark.heavy  # the stage scripts run as processes


@pytest.fixture
def repo(tmp_path, synthetic_source):
    folder, md5 = synthetic_source
    repo = copy_project(tmp_path / "repo")
    update_params(repo, {**SMALL_RUN, "fetch.sources": {"mnist": [str(folder)]}, "fetch.md5": md5})
    return repo


def stage(name, repo, **env):
    return run(stage_command(name), repo, tool_env(**env), check=False)


def assert_user_error(result, message, lines=1):
    """Exit 1, no traceback, and `message` on the error's first line; `lines` lines in all
    (fetch lists the sources it tried, one a line)."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    printed = result.stderr.strip().splitlines()
    assert printed[0].startswith("error: ") and message in printed[0], result.stderr
    assert len(printed) == lines, result.stderr


def test_all_stages_in_order_write_their_outputs(repo):
    for name in resolved_stages():  # dvc.yaml's order, the order they run in
        result = stage(name, repo)
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (repo / "data/raw").iterdir()) == [
        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    ]  # fmt: skip
    prepared = repo / "data/prepared"
    lines = {s: (prepared / f"{s}.tsv").read_bytes().count(b"\n") for s in ("train", "val", "test")}
    assert lines == {"train": 200, "val": 50, "test": 50}
    metrics = json.loads((repo / "metrics/metrics.json").read_text())
    assert metrics["train"]["n"] == 200 and metrics["test"]["n"] == 50
    assert set(metrics["test"]) >= {"accuracy", "loss", "n"}
    fake = json.loads((repo / "metrics/fake_image.json").read_text())
    assert fake["predicted"] in fake["probabilities"] and len(fake["probabilities"]) == 10
    predictions = (repo / "metrics/predictions.csv").read_text().splitlines()
    assert predictions[0] == "line,actual,predicted" and predictions[1].startswith("1,")
    assert len(predictions) == 51
    plots = {str(out.def_path) for out in resolved_stages()["plot"].outs}  # dvc.yaml's
    assert {f"metrics/plots/{p.name}" for p in (repo / "metrics/plots").iterdir()} == plots
    assert (repo / "metrics/plots/confusion.csv").read_text().count("\n") == 1 + 10 * 10
    live = json.loads((repo / "metrics/train/metrics.json").read_text())
    assert live["step"] == 2 and set(live["val"]) == {"loss", "accuracy"}
    live_dir = repo / "metrics/train"
    curves = sorted(str(p.relative_to(live_dir)) for p in live_dir.glob("plots/**/*.tsv"))
    expected = [
        f"plots/metrics/{s}/{q}.tsv" for s in ("train", "val") for q in ("accuracy", "loss")
    ]
    assert curves == expected


def test_no_reachable_source_keeps_the_previous_data(repo, tmp_path):
    update_params(
        repo, {"fetch.sources": {"mnist": [str(tmp_path / "missing"), "http://127.0.0.1:9/mnist"]}}
    )
    (repo / "data/raw").mkdir(parents=True)
    (repo / "data/raw/previous").write_text("kept")
    result = stage("fetch", repo)
    assert_user_error(result, "fetch: no source provided a valid train-images-idx3-ubyte", 4)
    assert result.stderr.splitlines()[1] == f"  {tmp_path / 'missing'} (does not exist)"
    assert sorted(p.name for p in (repo / "data/raw").iterdir()) == ["previous"]
    assert not [p for p in (repo / "data").iterdir() if p.name.endswith(".tmp")]


def test_dataset_source_variable_is_tried_first(repo, synthetic_source):
    folder, _ = synthetic_source
    update_params(repo, {"fetch.sources": {}})
    result = stage("fetch", repo, DATASET_SOURCE=str(folder))
    assert result.returncode == 0, result.stderr
    assert f"from {folder}" in result.stdout


@pytest.mark.parametrize(
    "change, message",
    [
        ({"train.lrr": 0.1}, "params: train.lrr: unknown key"),
        ({"train.epochs": "ten"}, "params: train.epochs: expected a number, got 'ten'"),
    ],
)
def test_bad_params_name_the_key(repo, change, message):
    for name in ["fetch", "prepare"]:
        assert stage(name, repo).returncode == 0
    update_params(repo, change)
    assert_user_error(stage("train", repo), message)
    assert not (repo / "models/model.pt").exists() and not (repo / "metrics/train").exists()


def test_n_train_and_n_val_above_the_split_write_nothing(repo):
    assert stage("fetch", repo).returncode == 0
    update_params(repo, {"prepare.n_train": 251})  # and n_val 50: one more than the 300 images
    assert_user_error(
        stage("prepare", repo),
        "params: prepare.n_train + prepare.n_val: 251 + 50 = 301, but the training split holds 300",
    )
    assert not list((repo / "data/prepared").glob("*.tsv"))


def test_a_diverging_run_writes_no_model(repo):
    for name in ["fetch", "prepare"]:
        assert stage(name, repo).returncode == 0
    update_params(repo, {"train.lr": 1e6, "train.epochs": 3})
    assert_user_error(stage("train", repo), "train: diverged at epoch")
    assert not (repo / "models/model.pt").exists() and not (repo / "metrics/train").exists()


def test_a_corrupt_prepared_file_is_reported_with_its_line(repo):
    for name in ["fetch", "prepare"]:
        assert stage(name, repo).returncode == 0
    path = repo / "data/prepared/train.tsv"
    lines = path.read_bytes().split(b"\n")
    lines[4] = lines[4] + b"\t7"
    path.write_bytes(b"\n".join(lines))
    assert_user_error(stage("train", repo), "data/prepared/train.tsv:5: 786 fields, expected 785")


def test_a_late_failure_leaves_no_partial_data(repo, synthetic_source):
    _, md5 = synthetic_source
    # The first three files verify; the last one cannot match, so the whole fetch fails.
    update_params(repo, {"fetch.md5": {**md5, "t10k-labels-idx1-ubyte": "0" * 32}})
    assert_user_error(stage("fetch", repo), "no source provided a valid t10k-labels-idx1-ubyte", 3)
    assert sorted(p.name for p in (repo / "data").iterdir()) == [".gitignore", "prepared"]


@pytest.mark.parametrize("selection", ["first", "random", "stratified"])
def test_prepare_is_byte_identical_on_a_rerun(repo, selection):
    assert stage("fetch", repo).returncode == 0
    update_params(
        repo, {"prepare.selection": selection, "prepare.n_train": 100, "prepare.n_test": 30}
    )
    outputs = []
    for _ in range(2):
        assert stage("prepare", repo).returncode == 0
        splits = ("train", "val", "test")
        outputs.append([(repo / f"data/prepared/{s}.tsv").read_bytes() for s in splits])
    assert outputs[0] == outputs[1]
    assert [data.count(b"\n") for data in outputs[0]] == [100, 50, 30]


def test_a_python_without_the_packages_gets_one_line_saying_what_to_do(repo):
    """As when `dvc repro` runs with a python other than the venv's first on PATH."""
    bare = [stage_command("fetch")[0], "-S", *stage_command("fetch")[1:]]  # -S: no site-packages
    result = run(bare, repo, tool_env(), check=False)
    # pyproject.toml's dependencies, in its order: the list has no other home.
    assert_user_error(result, f"{bare[0]} lacks the project's packages (torch, numpy, pandas")
    assert "source .venv/bin/activate" in result.stderr
