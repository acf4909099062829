"""Training on several processes (train.processes): the recipe, the launch, one writer, and
failures that end the job with one line. The ranks are gloo processes on this CPU."""

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

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


def train_stage(folder, run="run", env=None, **options):
    """The train stage started in `folder`, writing into `folder/run` (`options` for Popen)."""
    command = [
        sys.executable, str(ROOT / "stages" / "train.py"), "--params", "params.yaml",
        "--train", "train.tsv", "--val", "val.tsv",
        "--model", f"{run}/model.pt", "--history", f"{run}/history",
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **options,
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


def test_nodes_come_from_torchruns_own_variables():
    assert distributed.nodes({}, 4) == distributed.Nodes()
    assert distributed.nodes({"PET_NNODES": "1"}, 4) == distributed.Nodes()
    two = {"PET_NNODES": "2", "PET_NODE_RANK": "0", "PET_MASTER_ADDR": "node0"}
    assert distributed.nodes(two, 4) == distributed.Nodes(2, 0, "node0:29500")
    port = two | {"PET_NODE_RANK": "1", "PET_MASTER_PORT": "1234"}
    assert distributed.nodes(port, 2) == distributed.Nodes(2, 1, "node0:1234")
    with pytest.raises(PipelineError, match=r"^params: train.processes: 3 ranks do not spread"):
        distributed.nodes(two, 3)
    with pytest.raises(PipelineError, match=r"^train: PET_NODE_RANK=2 is not a node of"):
        distributed.nodes(two | {"PET_NODE_RANK": "2"}, 4)
    with pytest.raises(PipelineError, match=r"^train: PET_NNODES=2 needs PET_MASTER_ADDR"):
        distributed.nodes({"PET_NNODES": "2"}, 4)
    with pytest.raises(PipelineError, match=r"^train: PET_NNODES, .*: invalid literal"):
        distributed.nodes({"PET_NNODES": "1:2"}, 4)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.heavy
@pytest.mark.slow
def test_two_nodes_of_one_process_give_the_bytes_of_one_node_of_two(workspace, tmp_path_factory):
    update_params(workspace, {"train.processes": 2})
    alone = finished(train_stage(workspace, "alone"))
    assert alone.returncode == 0, alone.stderr
    # Node 1 is another machine: a copy of the workspace (same commit, same data).
    other = tmp_path_factory.mktemp("node1")
    for name in ("params.yaml", "train.tsv", "val.tsv"):
        (other / name).write_bytes((workspace / name).read_bytes())
    port = str(free_port())
    rendezvous = {"PET_MASTER_ADDR": "127.0.0.1", "PET_MASTER_PORT": port}
    env = {**os.environ, "PET_NNODES": "2", "PET_NODE_RANK": "0", **rendezvous}
    node0 = train_stage(workspace, "nodes", env=env)  # as `dvc exp run` starts it on node 0
    node1 = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", "1",
         "--master-addr", "127.0.0.1", "--master-port", port, "--nproc-per-node", "1",
         str(ROOT / "stages" / "train.py"), "--params", "params.yaml", "--train", "train.tsv",
         "--val", "val.tsv", "--model", "run/model.pt", "--history", "run/history"],
        cwd=other, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    first, second = finished(node0), finished(node1)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "starting 1 processes as node 0 of 2" in first.stdout
    assert (workspace / "nodes/model.pt").read_bytes() == (
        workspace / "alone/model.pt"
    ).read_bytes()
    assert files(other) == ["params.yaml", "train.tsv", "val.tsv"]  # node 1 writes nothing


def descendants(pid: int) -> dict[int, dict[str, str]]:
    """The processes under `pid` (its children, theirs, ...) -> each one's environment."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):  # gone meanwhile
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found, todo = {}, [pid]
    while todo:
        parent = todo.pop()
        for child in (p for p, pp in parents.items() if pp == parent):
            with contextlib.suppress(OSError):
                raw = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
                found[child] = dict(v.decode().split("=", 1) for v in raw if b"=" in v)
                todo.append(child)
    return found


def running_ranks(stage, workspace, timeout=30.0) -> dict[int, int]:
    """Rank -> pid of the stage's two ranks, once rank 0 is training (its history begun)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ranks = {int(env["RANK"]): p for p, env in descendants(stage.pid).items() if "RANK" in env}
        if len(ranks) == 2 and (workspace / "run/history").exists():
            return ranks
        assert stage.poll() is None, finished(stage).stderr
        time.sleep(0.1)
    raise AssertionError("the ranks did not start training")


def assert_no_leftovers(workspace, before, ranks, temp):
    assert files(workspace) == before  # no model, no history
    assert not list(temp.iterdir())  # the launcher's temporary folders are gone
    alive = [p for p in ranks.values() if Path(f"/proc/{p}").exists()]
    assert not alive, f"ranks still running: {alive}"


@pytest.fixture
def long_run(workspace, tmp_path_factory):
    """The stage on 2 ranks for longer than the test waits, with a temporary folder of its own."""
    update_params(workspace, {"train.processes": 2, "train.epochs": 200})
    temp = tmp_path_factory.mktemp("tmp")
    return files(workspace), {**os.environ, "TMPDIR": str(temp)}, temp


@pytest.mark.heavy
@pytest.mark.parametrize("rank", [1, 0])  # 0: the writer, killed with its history begun
def test_a_killed_rank_ends_the_job(workspace, long_run, rank):
    before, env, temp = long_run
    stage = train_stage(workspace, env=env)
    ranks = running_ranks(stage, workspace)
    os.kill(ranks[rank], signal.SIGKILL)
    start = time.monotonic()
    result = finished(stage)
    assert time.monotonic() - start < 90
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: train: rank {rank} of 2 failed"), lines
    assert "SIGKILL" in lines[0]
    assert_no_leftovers(workspace, before, ranks, temp)


@pytest.mark.heavy
def test_ctrl_c_stops_every_rank_with_one_line_and_no_leftovers(workspace, long_run):
    before, env, temp = long_run
    stage = train_stage(workspace, env=env, start_new_session=True)  # its own process group
    ranks = running_ranks(stage, workspace)
    os.killpg(stage.pid, signal.SIGINT)  # what Ctrl-C sends: the terminal's process group
    result = finished(stage)
    assert result.returncode == 130
    assert result.stderr.strip().splitlines() == ["error: interrupted"], result.stderr
    assert_no_leftovers(workspace, before, ranks, temp)
