"""deploy/: queued experiments spread over machines, one `dvc exp run` a job, each in a clone
of its own, as docs/scale.md shows for a SLURM array and SkyPilot."""

import json
import re
import shlex
import shutil
import subprocess

import pytest
from ruamel.yaml import YAML

from helpers import ROOT, commit, make_git_repo, run, tool_env
from mnist_pipeline.params import load_params

DEPLOY = ROOT / "deploy"


def experiments_listed(path):
    """{name: {"section.key": value as written}} of an experiment list, blank lines and `#`
    comments skipped as deploy/experiment.sh skips them."""
    found = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, *words = shlex.split(line)
            assert words[::2] == ["-S"] * (len(words) // 2), line
            found[name] = dict(setting.split("=", 1) for setting in words[1::2])
    return found


def test_the_shipped_list_holds_valid_params_and_the_array_covers_it():
    listed = experiments_listed(DEPLOY / "experiments.txt")
    value = YAML(typ="safe")  # as `dvc exp run -S` reads a value
    for settings in listed.values():
        load_params(ROOT / "params.yaml", {k: value.load(v) for k, v in settings.items()})
    sbatch = (DEPLOY / "experiments.sbatch").read_text()
    array = re.search(r"^#SBATCH --array=1-(\d+)", sbatch, re.M)
    assert array and int(array.group(1)) == len(listed)
    task = YAML(typ="safe").load((DEPLOY / "experiments.sky.yaml").read_text())
    assert {"workdir", "setup", "run"} <= task.keys()
    assert "deploy/experiment.sh" in task["run"]


def test_a_task_past_the_end_of_the_list_fails_in_one_line_and_leaves_no_clone(tmp_path):
    origin = tmp_path / "origin"
    origin.mkdir()
    (origin / "experiments.txt").write_text("# one\nlr-0.02 -S train.lr=0.02\n")
    env = tool_env()
    make_git_repo(origin, env)
    job_env = {**env, "EXP_GIT_URL": str(origin), "EXP_LIST": "experiments.txt"}
    job_env.update(SLURM_ARRAY_TASK_ID="2", TMPDIR=str(tmp_path))
    job = run(["bash", str(DEPLOY / "experiment.sh")], origin, job_env, check=False)
    assert job.returncode == 2
    assert job.stderr == f"error: no experiment 2 in {origin / 'experiments.txt'}\n"
    assert not list(tmp_path.glob("mnist-experiment-*"))


@pytest.mark.slow
def test_two_jobs_in_parallel_push_experiments_a_laptop_pulls(pipeline_repo, tmp_path):
    repo, env = pipeline_repo  # the laptop's checkout
    shutil.copytree(DEPLOY, repo / "deploy")
    origin = tmp_path / "origin.git"  # the team's git server
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp_path, env)
    run(["git", "remote", "add", "origin", str(origin)], repo, env)
    run(["dvc", "remote", "add", "-d", "storage", str(tmp_path / "dvc-remote")], repo, env)
    # The data the experiments start from, on the remote: they train, evaluate and plot.
    run(["dvc", "repro", "prepare"], repo, env)
    run(["dvc", "push"], repo, env)
    commit(repo, env, "data, remote, deploy/")
    run(["git", "push", "-q", "origin", "main"], repo, env)
    # The jobs' data can only come from the DVC remote: the source fetch reads is gone.
    shutil.rmtree(tmp_path / "source")

    experiments = tmp_path / "experiments.txt"
    experiments.write_text(
        "# two recipes\n"
        "lr-0.02 -S train.lr=0.02\n"
        "\n"
        "adamw -S train.optimizer=adamw -S train.lr=0.001\n"
    )
    job_env = {
        **env,
        "SLURM_SUBMIT_DIR": str(repo),  # what sbatch sets
        "EXP_GIT_URL": str(origin),
        "EXP_LIST": str(experiments),
        "TMPDIR": str(tmp_path),  # the clones' parent
    }
    jobs = [
        subprocess.Popen(
            ["bash", "deploy/experiments.sbatch"],
            cwd=repo,
            text=True,
            env={**job_env, "SLURM_ARRAY_TASK_ID": str(task)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for task in (1, 2)
    ]
    for job in jobs:
        output, _ = job.communicate(timeout=240)
        assert job.returncode == 0, output
    assert not list(tmp_path.glob("mnist-experiment-*")), "a job left its clone"

    listed = run(["dvc", "exp", "list", "--name-only", "origin"], repo, env).stdout.split()
    assert sorted(listed) == ["adamw", "lr-0.02"]
    run(["dvc", "exp", "pull", "origin"], repo, env)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo, env).stdout)
    found = {
        revision["name"]: revision["data"]
        for baseline in shown
        for experiment in baseline.get("experiments") or []
        for revision in experiment["revs"]
    }
    assert sorted(found) == ["adamw", "lr-0.02"]
    for name, settings in experiments_listed(experiments).items():
        params = found[name]["params"]["params.yaml"]["data"]["train"]
        assert {k: str(params[k.removeprefix("train.")]) for k in settings} == settings
        metrics = found[name]["metrics"]["metrics/metrics.json"]["data"]
        assert 0 < metrics["test"]["accuracy"] <= 1, name
        # The model came too, into this cache: `dvc exp apply` needs no remote.
        model = found[name]["outs"]["models/model.pt"]["hash"]
        assert (repo / ".dvc/cache/files/md5" / model[:2] / model[2:]).is_file(), name
