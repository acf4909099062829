"""Training on several processes (train.processes): the recipe, the launch, one writer, and
failures that end the job with one line. The ranks are gloo processes on this CPU."""

import hashlib
import os
import subprocess
import sys
import time

import pytest
import torch

from helpers import ROOT, fit, synthetic_split, train_params, update_params
from mnist_pipeline import distributed, history, numerics, tsv
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.params import load_params


def test_processes_must_share_the_batch_equally():
    with pytest.raises(PipelineError, match=r"^params: train.processes: input should be greater"):
        train_params(processes=0)
    message = r"^params: train.processes: expected a divisor of train.batch_size \(10\), got 3$"
    with pytest.raises(PipelineError, match=message):
        train_params(batch_size=10, processes=3)
    assert train_params(batch_size=10, processes=5).processes == 5


def test_ranks_come_from_the_launcher_and_must_match_the_recipe():
    assert numerics.ranks({}, 2) == numerics.Ranks(0, 1, 0)
    launched = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}
    assert numerics.ranks(launched, 4) == numerics.Ranks(3, 4, 1)
    with pytest.raises(PipelineError, match=r"train.processes: 2, but the launcher started 4"):
        numerics.ranks(launched, 2)
    assert numerics.run_settings(train_params(processes=2), launched | {"WORLD_SIZE": "2"}).ranks
    assert distributed.should_launch({}, 2) and not distributed.should_launch({}, 1)
    assert not distributed.should_launch(launched, 4)  # torchrun started it: it joins


def test_each_rank_has_its_own_gpu_and_backend():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert numerics.rank_device(cpu, 3, 0) == cpu
    assert numerics.rank_device(cuda, 1, 2) == torch.device("cuda", 1)
    with pytest.raises(PipelineError, match="a GPU per rank.*local rank 2 has none"):
        numerics.rank_device(cuda, 2, 2)
    assert distributed.backend(torch.device("cuda", 1)) == "nccl"
    assert distributed.backend(cpu) == "gloo"


def test_a_last_batch_too_small_to_share_is_a_params_error():
    images, labels = synthetic_split(101, seed=1)  # batches of 10: the last has one image
    settings = numerics.run_settings(train_params(batch_size=10))
    two = type(settings)(**{**settings.__dict__, "ranks": numerics.Ranks(0, 2, 0)})
    with pytest.raises(PipelineError, match="2 ranks cannot share the last batch of 1 images"):
        from mnist_pipeline.progress import EpochProgress
        from mnist_pipeline.train import train

        val = synthetic_split(20, seed=7)
        train(
            images,
            labels,
            *val,
            10,
            train_params(batch_size=10),
            two,
            EpochProgress(1, 1, print, None),
        )


# The stage as DVC runs it, on 200 synthetic images: 2 epochs of 10 batches of 20.
SMALL = {"train.epochs": 2, "train.batch_size": 20, "train.lr": 0.05, "train.augment_shift": 1.0}


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "params.yaml").write_bytes((ROOT / "params.yaml").read_bytes())
    update_params(tmp_path, SMALL)
    (tmp_path / "train.tsv").write_bytes(tsv.encode(*synthetic_split(200, seed=1)))
    (tmp_path / "val.tsv").write_bytes(tsv.encode(*synthetic_split(50, seed=7)))
    return tmp_path


def train_stage(folder, run="run", env=None):
    """The train stage started in `folder`, writing into `folder/run`."""
    command = [
        sys.executable, str(ROOT / "stages" / "train.py"), "--params", "params.yaml",
        "--train", "train.tsv", "--val", "val.tsv",
        "--model", f"{run}/model.pt", "--history", f"{run}/history",
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def finished(process) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def weights_digest(path):
    from mnist_pipeline.checkpoint import load_checkpoint

    state = load_checkpoint(path).model.state_dict()
    return hashlib.sha256(b"".join(t.numpy().tobytes() for t in state.values())).hexdigest()


@pytest.mark.heavy
def test_one_process_runs_in_the_stage_as_in_train(workspace):
    result = finished(train_stage(workspace))
    assert result.returncode == 0, result.stderr
    assert "starting" not in result.stdout  # no launcher
    params = load_params(workspace / "params.yaml").train
    images, labels = tsv.read(workspace / "train.tsv", 10)
    model, _ = fit(images, labels, params, val=tsv.read(workspace / "val.tsv", 10))
    digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in model.state_dict().values()))
    assert weights_digest(workspace / "run/model.pt") == digest.hexdigest()


@pytest.mark.heavy
def test_two_processes_give_the_same_bytes_run_to_run_and_one_writer(workspace):
    update_params(workspace, {"train.processes": 2})
    before = files(workspace)
    for run in ("a", "b"):
        result = finished(train_stage(workspace, run))
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("train: wrote") == 1 and result.stdout.count("epoch    2/2") == 1
    assert (workspace / "a/model.pt").read_bytes() == (workspace / "b/model.pt").read_bytes()
    history.read(workspace / "a/history")  # each epoch logged once (two writers repeat them)
    outputs = {"model.pt", "history/metrics.json"} | {
        f"history/plots/metrics/{curve}.tsv" for curve in history.CURVES
    }
    assert files(workspace) == sorted(
        before + [f"{run}/{name}" for run in "ab" for name in outputs]
    )


@pytest.mark.heavy
def test_a_failing_rank_ends_the_job_with_one_line_naming_it(workspace):
    # Rank 1 fails as it reads the data; rank 0 is then waiting for it in a collective.
    inject = workspace / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(
        "import os, sys\n"
        "if os.environ.get('RANK') == '1':\n"
        f"    sys.path.insert(0, {str(ROOT / 'src')!r})\n"
        "    from mnist_pipeline import tsv\n"
        "    def read(*args):\n"
        "        raise ValueError('injected failure')\n"
        "    tsv.read = read\n"
    )
    update_params(workspace, {"train.processes": 2})
    start = time.monotonic()
    result = finished(train_stage(workspace, env={**os.environ, "PYTHONPATH": str(inject)}))
    assert time.monotonic() - start < 30
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: train: rank 1 of 2 failed (exit 1): ValueError: injected failure"
    ], result.stderr
    assert not (workspace / "run" / "model.pt").exists()
