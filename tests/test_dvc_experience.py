"""What users do with DVC beyond `dvc repro`: experiments, queues, remotes, artifacts."""

import json
import socket
import subprocess
import time

import pytest
import yaml

from helpers import BIN, run

pytestmark = pytest.mark.slow


def commit(repo, env, message):
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", message], repo, env)


def experiments(repo, env):
    """{experiment name: (train.lr, test accuracy)} from `dvc exp show --json`."""
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo, env).stdout)
    found = {}
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for revision in exp["revs"]:
                data = revision["data"]
                lr = data["params"]["params.yaml"]["data"]["train"]["lr"]
                accuracy = data["metrics"]["metrics/metrics.json"]["data"]["test"]["accuracy"]
                found[revision.get("name") or exp.get("name")] = (lr, accuracy)
    return found


def test_experiments_run_queue_show_and_apply(pipeline_repo):
    repo, env = pipeline_repo
    run(["dvc", "repro"], repo, env)
    commit(repo, env, "baseline")

    run(["dvc", "exp", "run", "-n", "lr-0.01", "-S", "train.lr=0.01"], repo, env)
    table = run(["dvc", "exp", "show", "--md"], repo, env).stdout
    assert (
        "workspace" in table
        and "lr-0.01" in table
        and "train.lr" in table
        and "test.accuracy" in table
    )

    run(["dvc", "exp", "run", "--queue", "-S", "train.lr=0.001,0.02"], repo, env)
    run(["dvc", "queue", "start", "-j", "1"], repo, env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], repo, env).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(2)
    run(["dvc", "queue", "stop", "--kill"], repo, env, check=False)
    assert status.count("Success") == 2, status

    found = experiments(repo, env)
    assert sorted(lr for lr, _ in found.values()) == [0.001, 0.01, 0.02], found
    name = next(n for n, (lr, _) in found.items() if lr == 0.001)
    run(["dvc", "exp", "apply", name], repo, env)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    metrics = json.loads((repo / "metrics/metrics.json").read_text())
    assert params["train"]["lr"] == 0.001
    assert metrics["test"]["accuracy"] == found[name][1]


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
