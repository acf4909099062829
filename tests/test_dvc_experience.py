"""What users do with DVC beyond `dvc repro`: experiments, queues, remotes, artifacts."""

import hashlib
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time

import pytest
from ruamel.yaml import YAML

from helpers import BIN, ROOT, commit, run, stages_run, update_params
from mnist_pipeline.params import read_params

pytestmark = pytest.mark.slow


def experiments(repo, env):
    """{experiment name: revision data} of the finished experiments, from `dvc exp show`."""
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo, env).stdout)
    return {
        revision["name"]: revision["data"]
        for baseline in shown
        for experiment in baseline.get("experiments") or []
        for revision in experiment["revs"]
        if (revision.get("data") or {}).get("metrics")
    }


def make_compare(repo, env):
    """`make compare`'s command as the Makefile writes it, run in `repo`."""
    makefile = (ROOT / "Makefile").read_text()
    drop, keep = (
        re.search(rf"^COMPARE_{name} := (.*)$", makefile, re.M).group(1).replace("$$", "$")
        for name in ("DROP", "KEEP")
    )
    command = ["dvc", "exp", "show", "--hide-failed", "--hide-queued", "--only-changed"]
    command += ["--drop", drop, "--keep", keep]
    return run(command, repo, {**env, "COLUMNS": "120"}).stdout


def result(data):
    """What must be byte-identical between two runs of one experiment: the outputs' hashes
    (model, DVCLive history, plots, predictions) and the metrics."""
    return {path: out["hash"] for path, out in data["outs"].items()}, data["metrics"]


def wait_for_queue(repo, env, timeout=600):
    """Poll `dvc queue status` until nothing is queued or running; return the most
    experiments seen running at once and the last status."""
    most, deadline = 0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], repo, env).stdout
        most = max(most, sum(" Running" in line for line in status.splitlines()))
        if "Queued" not in status and "Running" not in status:
            return most, status
        time.sleep(0.5)
    run(["dvc", "queue", "stop", "--kill"], repo, env, check=False)
    raise AssertionError(f"queue still busy after {timeout} s:\n{status}")


def test_a_queue_runs_two_at_a_time_with_results_identical_to_runs_alone(pipeline_repo):
    repo, env = pipeline_repo
    run(["dvc", "repro"], repo, env)
    commit(repo, env, "baseline")
    # Every key the sweep changes is set in each: `-S` applies on top of the workspace's
    # params.yaml, which after a run in the workspace holds that run's values.
    sweep = {
        "lr-0.01": ["-S", "train.lr=0.01", "-S", "train.epochs=2"],
        "lr-0.02": ["-S", "train.lr=0.02", "-S", "train.epochs=2"],
        "epochs-3": ["-S", "train.lr=0.05", "-S", "train.epochs=3"],
    }
    for name, settings in sweep.items():
        run(["dvc", "exp", "run", "--queue", "-n", f"q-{name}", *settings], repo, env)
    # `dvc queue start` may stay in the foreground until the queue is done: watch beside it.
    starting = subprocess.Popen(
        ["dvc", "queue", "start", "-j", "2"], cwd=repo, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    most_running, status = wait_for_queue(repo, env)
    assert starting.wait(timeout=120) == 0
    assert status.count("Success") == 3, status
    assert most_running == 2, status

    for name, settings in sweep.items():  # the same experiments, one at a time
        run(["dvc", "exp", "run", "-n", f"alone-{name}", *settings], repo, env)
    found = experiments(repo, env)
    assert sorted(found) == sorted(f"{kind}-{name}" for kind in ("q", "alone") for name in sweep)
    for name in sweep:
        assert result(found[f"q-{name}"]) == result(found[f"alone-{name}"]), name
    assert len({result(found[f"q-{name}"])[0]["models/model.pt"] for name in sweep}) == 3

    # The comparison: the three numbers and the params that differ, in a 120-column terminal.
    table = [line.strip() for line in make_compare(repo, env).splitlines() if line.strip()]
    header = re.split(r" {2,}", table[1])
    assert header == ["Experiment", "val.accuracy", "test.accuracy", "test.loss", "train.epochs",
                      "train.lr"], table  # fmt: skip
    assert max(len(line) for line in table) <= 120, "\n".join(table)
    assert all(any(name in line for line in table) for name in found), table

    name = "q-lr-0.02"
    run(["dvc", "exp", "apply", name], repo, env)
    params = read_params(repo / "params.yaml")
    metrics = json.loads((repo / "metrics/metrics.json").read_text())
    assert params["train"]["lr"] == 0.02
    assert metrics == found[name]["metrics"]["metrics/metrics.json"]["data"]


def _model_bytes(repo):
    return (repo / "models/model.pt").read_bytes()


def _clone_and_pull(repo, env, tmp_path, configure=lambda clone: None):
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
    configure(clone)
    run(["dvc", "pull"], clone, env)
    status = run(["dvc", "status"], clone, env).stdout
    assert "up to date" in status, status
    assert _model_bytes(clone) == _model_bytes(repo)
    assert (clone / "data/prepared/train.tsv").read_bytes() == (
        repo / "data/prepared/train.tsv"
    ).read_bytes()
    return clone


def test_push_and_pull_through_a_local_remote(pipeline_repo, tmp_path):
    repo, env = pipeline_repo
    run(["dvc", "repro"], repo, env)
    run(["dvc", "remote", "add", "-d", "storage", str(tmp_path / "remote")], repo, env)
    run(["dvc", "push"], repo, env)
    commit(repo, env, "run and remote")
    _clone_and_pull(repo, env, tmp_path)

    # The model as an artifact, fetched by another project without cloning this one: a git
    # tag in the model registry's convention (NAME@vX.Y.Z) registers a version.
    run(["git", "tag", "-a", "mnist-cnn@v1.0.0", "-m", "Registered version v1.0.0"], repo, env)
    out = tmp_path / "elsewhere" / "model.pt"
    out.parent.mkdir()
    run(["dvc", "artifacts", "get", str(repo), "mnist-cnn", "-o", str(out)], out.parent, env)
    assert out.read_bytes() == _model_bytes(repo)
    run(
        ["dvc", "get", str(repo), "models/model.pt", "-o", str(out.with_name("again.pt"))],
        out.parent,
        env,
    )
    assert out.with_name("again.pt").read_bytes() == _model_bytes(repo)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_server():
    """A real S3 API (moto's server) on 127.0.0.1, with one bucket."""
    port = _free_port()
    server = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        import boto3

        deadline = time.monotonic() + 30
        while True:
            try:
                client = boto3.client(
                    "s3", endpoint_url=endpoint, region_name="us-east-1",
                    aws_access_key_id="testing", aws_secret_access_key="testing",
                )  # fmt: skip
                client.create_bucket(Bucket="mnist-pipeline")
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_push_and_pull_through_an_s3_remote(pipeline_repo, tmp_path, s3_server):
    repo, env = pipeline_repo
    env = {**env, "AWS_EC2_METADATA_DISABLED": "true"}
    run(["dvc", "repro"], repo, env)

    def configure(checkout):
        # Credentials go to .dvc/config.local, which git never sees.
        run(["dvc", "remote", "modify", "--local", "s3", "access_key_id", "testing"], checkout, env)
        run(
            ["dvc", "remote", "modify", "--local", "s3", "secret_access_key", "testing"],
            checkout,
            env,
        )

    run(["dvc", "remote", "add", "-d", "s3", "s3://mnist-pipeline/store"], repo, env)
    run(["dvc", "remote", "modify", "s3", "endpointurl", s3_server], repo, env)
    configure(repo)
    run(["dvc", "push"], repo, env)
    commit(repo, env, "run and S3 remote")
    assert "secret" not in (repo / ".dvc/config").read_text()
    _clone_and_pull(repo, env, tmp_path, configure)


def test_going_back_to_earlier_params_restores_every_stage_from_the_run_cache(
    pipeline_repo, tmp_path
):
    repo, env = pipeline_repo
    run(["dvc", "repro"], repo, env)
    commit(repo, env, "baseline")
    for lr in ("0.01", "0.02", "0.03"):
        run(["dvc", "exp", "run", "-n", f"lr-{lr}", "-S", f"train.lr={lr}"], repo, env)

    revisit = run(["dvc", "exp", "run", "-n", "again", "-S", "train.lr=0.01"], repo, env)
    assert stages_run(revisit.stdout) == [], revisit.stdout
    for name in ("train", "evaluate", "plot"):
        assert f"Stage '{name}' is cached - skipping run" in revisit.stdout, revisit.stdout
    found = experiments(repo, env)
    assert result(found["again"]) == result(found["lr-0.01"])
    assert result(found["again"]) != result(found["lr-0.03"])
    # The workspace holds the restored run, as DVC's lock records it.
    assert "up to date" in run(["dvc", "status"], repo, env).stdout

    # A teammate's clone gets the runs through a remote and revisits them as instantly. (With
    # `dvc push --run-cache` alone the clone finds the run records, not the files: it trains.)
    run(["dvc", "remote", "add", "-d", "storage", str(tmp_path / "remote")], repo, env)
    run(["dvc", "push"], repo, env)
    run(["mnist-pipeline", "push-runs"], repo, env)
    commit(repo, env, "remote")
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
    run(["dvc", "pull", "--run-cache"], clone, env)
    theirs = run(["dvc", "exp", "run", "--pull", "-n", "theirs", "-S", "train.lr=0.02"], clone, env)
    assert stages_run(theirs.stdout) == [], theirs.stdout
    assert result(experiments(clone, env)["theirs"]) == result(found["lr-0.02"])


def readme_recovery_recipe() -> list[list[str]]:
    """The commands of the README's block after **When a stage fails**, comments dropped."""
    text = (ROOT / "README.md").read_text()
    block = text.split("**When a stage fails**", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def recover(repo, env, pull=False) -> list[str]:
    """Run the README's recipe (`--pull` added to dvc repro where a remote is set, as the
    README says); return the stages it ran."""
    ran = []
    for command in readme_recovery_recipe():
        command += ["--pull"] if pull and command[:2] == ["dvc", "repro"] else []
        ran += stages_run(run(command, repo, env).stdout)
    return ran


def assert_as_committed(repo, env):
    assert run(["git", "status", "--porcelain"], repo, env).stdout == ""
    assert "up to date" in run(["dvc", "status"], repo, env).stdout
    lock = YAML(typ="safe").load((repo / "dvc.lock").read_text())
    model = next(o for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model.pt")
    assert hashlib.md5(_model_bytes(repo)).hexdigest() == model["md5"]


def failing_evaluate_env(env, tmp_path):
    """env whose `python` fails the evaluate stage (as an interrupted run would), after train
    has succeeded and DVC has written and staged its part of dvc.lock."""
    wrapper = tmp_path / "failing" / "python"
    wrapper.parent.mkdir()
    wrapper.write_text(
        '#!/bin/sh\ncase "$1" in stages/evaluate.py) echo "error: interrupted" >&2; exit 1;; esac\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return {**env, "PATH": f"{wrapper.parent}{os.pathsep}{env['PATH']}"}


def test_the_readme_recipe_recovers_from_failed_runs_from_the_cache(pipeline_repo, tmp_path):
    repo, env = pipeline_repo
    run(["dvc", "repro"], repo, env)
    commit(repo, env, "a run")

    failed = run(["dvc", "exp", "run", "-S", "train.lr=abc"], repo, env, check=False)
    assert failed.returncode != 0 and "train.lr: expected a number, got 'abc'" in failed.stderr
    assert "lr: abc" in (repo / "params.yaml").read_text()
    assert not (repo / "models/model.pt").exists()
    assert recover(repo, env) == []  # the model and curves come back from the cache
    assert_as_committed(repo, env)

    # A run not committed (dvc repro stages its dvc.lock: `git checkout -- dvc.lock`, without
    # HEAD, would bring that one back), then one that fails after train wrote its part of it.
    update_params(repo, {"train.epochs": 3})
    run(["dvc", "repro"], repo, env)
    assert "dvc.lock" in run(["git", "diff", "--cached", "--name-only"], repo, env).stdout
    update_params(repo, {"train.lr": 0.02})
    failed = run(["dvc", "repro"], repo, failing_evaluate_env(env, tmp_path), check=False)
    assert failed.returncode != 0 and "error: interrupted" in failed.stderr
    assert recover(repo, env) == []
    assert_as_committed(repo, env)


def test_the_readme_recipe_recovers_a_fresh_clone(pipeline_repo, tmp_path):
    """Without a remote the clone's cache is empty: dvc repro makes the committed run again
    (the same bytes: the lock's model). With a remote, --pull brings it back untrained."""
    repo, env = pipeline_repo
    run(["dvc", "repro"], repo, env)
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "storage", str(remote)], repo, env)
    run(["dvc", "push", "--run-cache"], repo, env)
    commit(repo, env, "a run and its remote")

    for name, pull in (("alone", False), ("with-remote", True)):
        clone = tmp_path / name
        run(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
        if not pull:
            run(["dvc", "remote", "remove", "storage"], clone, env)
            commit(clone, env, "no remote")
        failed = run(["dvc", "exp", "run", "-S", "train.lr=abc"], clone, env, check=False)
        assert failed.returncode != 0
        ran = recover(clone, env, pull=pull)
        # Every stage checks the whole params.yaml, so the failed run stopped at fetch; plot
        # has the same inputs as the committed run.
        made_again = ["fetch", "prepare", "train", "evaluate"]
        assert ran == ([] if pull else made_again), (name, ran)
        assert_as_committed(clone, env)
