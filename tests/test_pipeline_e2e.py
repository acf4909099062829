"""`dvc repro` end to end in throwaway git repositories made from the project."""

import hashlib
import json
import platform
import subprocess

import pytest
from ruamel.yaml import YAML

from helpers import (
    commit,
    copy_project,
    cpu_has,
    make_git_repo,
    plumbing,
    run,
    stages_run,
    tool_env,
    update_params,
)
from mnist_pipeline import history

pytestmark = pytest.mark.slow
ALL_STAGES = ["fetch", "prepare", "train", "evaluate", "plot"]


def repro(repo, env, *args):
    return stages_run(run(["dvc", "repro", *args], repo, env).stdout)


def test_only_the_affected_stages_run(pipeline_repo):
    repo, env = pipeline_repo
    assert repro(repo, env) == ALL_STAGES
    assert repro(repo, env) == []

    update_params(repo, {"train.lr": 0.03})
    assert repro(repo, env) == ["train", "evaluate", "plot"]

    # prepare re-runs, but train.tsv is byte-identical, so DVC skips train.
    update_params(repo, {"prepare.n_test": 40})
    assert repro(repo, env) == ["prepare", "evaluate", "plot"]
    assert json.loads((repo / "metrics/metrics.json").read_text())["test"]["n"] == 40

    # Validation feeds the curves, not the weights: the model comes out byte-identical, so
    # evaluate is skipped, and plot redraws the curves.
    update_params(repo, {"prepare.n_val": 40})
    assert repro(repo, env) == ["prepare", "train", "plot"]

    assert repro(repo, env) == []
    assert "up to date" in run(["dvc", "status"], repo, env).stdout


def test_a_print_only_param_reruns_nothing(pipeline_repo):
    repo, env = pipeline_repo
    repro(repo, env)
    model = (repo / "models/model.pt").read_bytes()
    update_params(repo, {"log_every": 7})
    assert repro(repo, env) == []
    assert repro(repo, env, "--force", "--single-item", "train") == ["train"]  # same model
    assert (repo / "models/model.pt").read_bytes() == model
    assert "up to date" in run(["dvc", "status"], repo, env).stdout


def test_editing_plumbing_reruns_nothing_and_editing_a_dep_does(pipeline_repo):
    """Code dvc.yaml names as plumbing (bootstrap, messages, progress, the error type) is no
    stage's dependency; a module a stage depends on is."""
    repo, env = pipeline_repo
    repro(repo, env)

    def edit(path):
        with open(repo / path, "a") as file:
            file.write("# edited\n")

    def changed_stages():
        return set(json.loads(run(["dvc", "status", "--json"], repo, env).stdout))

    for path in plumbing(repo):
        edit(path)
    assert changed_stages() == set()

    stages = YAML(typ="safe").load((repo / "dvc.yaml").read_text())["stages"]
    dep = next(d for d in stages["train"]["deps"] if d.startswith("src/"))
    edit(dep)
    assert changed_stages() == {name for name, stage in stages.items() if dep in stage["deps"]}


def test_a_forced_rerun_is_byte_identical(pipeline_repo):
    repo, env = pipeline_repo
    repro(repo, env)
    commit(repo, env, "run")
    assert repro(repo, env, "--force") == ALL_STAGES
    assert run(["git", "status", "--porcelain"], repo, env).stdout == ""


def test_metrics_diff_between_two_commits(pipeline_repo):
    repo, env = pipeline_repo
    repro(repo, env)
    commit(repo, env, "two epochs")
    before = json.loads((repo / "metrics/metrics.json").read_text())
    update_params(repo, {"train.epochs": 8})
    repro(repo, env)
    commit(repo, env, "eight epochs")
    after = json.loads((repo / "metrics/metrics.json").read_text())

    diff = json.loads(run(["dvc", "metrics", "diff", "HEAD~1", "HEAD", "--json"], repo, env).stdout)
    reported = diff["metrics/metrics.json"]
    for split in ["train", "test"]:
        entry = reported[f"{split}.accuracy"]
        assert (entry["old"], entry["new"]) == (before[split]["accuracy"], after[split]["accuracy"])
    assert before["train"]["accuracy"] != after["train"]["accuracy"]
    # Headline numbers only: even with every metric listed, the diff fits a screen.
    table = run(["dvc", "metrics", "diff", "HEAD~1", "HEAD", "--all", "--md"], repo, env).stdout
    rows = [line for line in table.splitlines() if line.startswith("| metrics/")]
    assert 5 <= len(rows) <= 12, table
    assert diff["metrics/train/metrics.json"]["val.accuracy"]["new"] is not None
    params = json.loads(
        run(["dvc", "params", "diff", "HEAD~1", "HEAD", "--json"], repo, env).stdout
    )
    assert (
        params["params.yaml"]["train.epochs"]["old"],
        params["params.yaml"]["train.epochs"]["new"],
    ) == (2, 8)


def test_a_failing_stage_fails_dvc_repro_cleanly(pipeline_repo, tmp_path):
    repo, env = pipeline_repo
    update_params(repo, {"fetch.sources": {"mnist": [str(tmp_path / "nowhere")]}})
    result = run(["dvc", "repro"], repo, env, check=False)
    assert result.returncode != 0
    assert "error: fetch: no source provided a valid" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (repo / "data/raw").exists()


def _portable_skip_reason() -> str | None:
    """Why the portable numerics cannot promise the shipped bytes here, or None."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return f"the shipped bytes are promised on x86-64 with AVX2, this is {platform.machine()}"
    if not cpu_has("avx2"):
        return "the shipped bytes are promised on x86-64 CPUs with AVX2, this one has none"
    return None


def test_real_mnist_default_run_meets_the_reference(shipped_run):
    repo, env, ran = shipped_run
    # A fresh clone has no data, model or cached results yet. plot re-runs only where the
    # new model's bytes differ from the shipped one (another CPU type).
    assert ran[:4] == ["fetch", "prepare", "train", "evaluate"]
    assert "up to date" in run(["dvc", "status"], repo, env).stdout
    metrics = json.loads((repo / "metrics/metrics.json").read_text())
    assert metrics["train"]["n"] == 1000 and metrics["test"]["n"] == 100
    assert metrics["train"]["accuracy"] >= 0.95 and metrics["test"]["accuracy"] >= 0.93
    assert json.loads((repo / "metrics/fake_image.json").read_text())["predicted"] == "four"
    curves = history.read(repo / "metrics/train")
    assert list(curves["epoch"]) == list(range(1, 51))
    # 100 batches of 10 an epoch: the tutorial's summed loss is 100 times the mean per image.
    summed = 100 * curves["train/loss"]
    assert 225 < summed.iloc[0] < 235 and summed.iloc[-1] < 30  # the tutorial: ~230 to ~21
    assert curves["val/accuracy"].iloc[-1] > 0.9


def test_real_mnist_reproduces_the_shipped_files_bit_for_bit(shipped_run):
    """The shipped run was made in portable numerics: any x86-64 CPU with AVX2, Intel or AMD,
    makes the same bytes, so a fresh clone's `dvc repro` leaves git and DVC clean."""
    if reason := _portable_skip_reason():
        pytest.skip(reason)
    repo, env, ran = shipped_run
    # evaluate writes outputs DVC caches, which a clone lacks; plot: the same inputs, no re-run.
    assert ran == ["fetch", "prepare", "train", "evaluate"]
    assert "up to date" in run(["dvc", "status"], repo, env).stdout
    changed = run(["git", "status", "--porcelain"], repo, env).stdout
    assert changed == "", (
        f"differs from the shipped run:\n{changed}\n"
        + subprocess.run(["git", "diff", "--stat"], cwd=repo, capture_output=True, text=True).stdout
    )


def test_a_clone_pulls_the_model_the_shipped_lock_names(shipped_run, tmp_path):
    """What this machine made from the shipped dvc.lock, pushed to a folder remote, is what a
    fresh clone's `dvc pull` asks for: the lock names the same model on every machine."""
    if reason := _portable_skip_reason():
        pytest.skip(reason)
    repo, env, _ = shipped_run
    remote = ["dvc", "remote", "add", "--local", "-d", "storage", str(tmp_path / "remote")]
    run(remote, repo, env)
    run(["dvc", "push"], repo, env)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
    run(remote, clone, env)
    run(["dvc", "pull"], clone, env)
    assert "up to date" in run(["dvc", "status"], clone, env).stdout
    lock = YAML(typ="safe").load((clone / "dvc.lock").read_text())
    named = next(
        o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model.pt"
    )
    assert hashlib.md5((clone / "models/model.pt").read_bytes()).hexdigest() == named


FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def test_fashion_mnist_end_to_end(tmp_path):
    from pathlib import Path

    if not (Path(FASHION_MNIST) / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(
            f"Fashion-MNIST not found at {FASHION_MNIST} (apt-get install dataset-fashion-mnist)"
        )
    repo = copy_project(tmp_path / "repo")
    update_params(repo, {
        "dataset": "fashion-mnist", "fetch.sources": {},
        "prepare.n_train": 1000, "prepare.n_val": 500, "prepare.n_test": 500,
        "prepare.selection": "stratified",
        "train.epochs": 3, "train.lr": 0.05,
    })  # fmt: skip
    env = tool_env(DATASET_SOURCE=FASHION_MNIST)
    make_git_repo(repo, env)
    assert repro(repo, env) == ALL_STAGES
    metrics = json.loads((repo / "metrics/metrics.json").read_text())
    assert metrics["test"]["n"] == 500 and metrics["test"]["accuracy"] > 0.5  # chance: 0.1
    fake = json.loads((repo / "metrics/fake_image.json").read_text())
    assert list(fake["probabilities"]) == [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]  # fmt: skip
    per_class = (repo / "metrics/plots/per_class.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in per_class[1:]] == list(fake["probabilities"])
    assert all(line.endswith(",50") for line in per_class[1:])  # stratified: 50 images a class
    predictions = (repo / "metrics/predictions.csv").read_text().splitlines()[1:]
    assert len(predictions) == 500
