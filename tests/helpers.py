"""Test helpers: tiny IDX data sets written on the fly, and throwaway copies of the project."""

from __future__ import annotations

import atexit
import functools
import gzip
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from configobj import ConfigObj
from ruamel.yaml import YAML

from mnist_pipeline.datasets import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS
from mnist_pipeline.idx import encode_idx
from mnist_pipeline.params import apply_overrides, read_params

ROOT = Path(__file__).resolve().parents[1]
# The real MNIST: the folder $MNIST_SOURCE names (as fetch reads it); tests that need it are
# skipped without it.
REAL_MNIST = Path(os.environ["MNIST_SOURCE"]) if os.environ.get("MNIST_SOURCE") else None
NO_REAL_MNIST = (
    f"real MNIST not found in MNIST_SOURCE={REAL_MNIST}" if REAL_MNIST else "MNIST_SOURCE is unset"
) + ": set MNIST_SOURCE to a folder holding the four MNIST files (.gz or not) to run this test"


def real_mnist_file(name: str) -> Path | None:
    """The real MNIST file `name` (gzipped or not), or None when it is not there."""
    if REAL_MNIST is None:
        return None
    return next((p for p in (REAL_MNIST / f"{name}.gz", REAL_MNIST / name) if p.is_file()), None)


def cpu_has(flag: str) -> bool:
    """Whether this machine's CPU lists `flag` (avx2, avx512f...) in /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "")
    except OSError:  # not Linux
        return False
    return flag in flags.split()


ISOLATED_CONFIG = Path(tempfile.mkdtemp(prefix="mnist-pipeline-tests-dvc-config-"))
atexit.register(shutil.rmtree, ISOLATED_CONFIG, True)
ARTIFACTS = ROOT / "build" / "test-artifacts"  # screenshots, kept for people to look at
BIN = Path(sys.executable).parent  # the venv's bin: dvc, and the python dvc.yaml calls
PROJECT_FILES = [
    "dvc.yaml", "params.yaml", ".dvcignore", ".dvc/config", ".dvc/.gitignore", ".dvc/plots",
    "stages", "src", "data/.gitignore", "data/prepared/.gitignore", "models/.gitignore",
    "pyproject.toml",  # stages/bootstrap.py reads the packages the stages need
]  # fmt: skip


SYNTHETIC_CLASSES = 10  # synthetic_split's labels run 0-9, as MNIST's


def synthetic_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n learnable 28x28 images: class c is a bright 6x6 block at its own place, plus noise."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % SYNTHETIC_CLASSES).astype(np.uint8)
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
    for i, c in enumerate(labels):
        row, col = 1 + 9 * (c // 4), 1 + 7 * (c % 4)
        images[i, row : row + 6, col : col + 6] = rng.integers(180, 256, size=(6, 6))
    return images, labels


def train_params(**overrides):
    """The train section of the repo's params.yaml (the one home of the defaults) with
    `overrides` applied, validated as the train stage validates it."""
    from mnist_pipeline.params import load_params

    return load_params(ROOT / "params.yaml", {f"train.{k}": v for k, v in overrides.items()}).train


def fit(images, labels, params, val=None, log=lambda line: None, log_every=1):
    """Train quietly with a validation set (by default 50 synthetic images), a log line every
    `log_every` epochs; return the model and the list of per-epoch metrics."""
    from mnist_pipeline.numerics import run_settings
    from mnist_pipeline.progress import EpochProgress
    from mnist_pipeline.train import train

    history = []
    progress = EpochProgress(params.epochs, log_every, log, bar_stream=None)
    val = synthetic_split(50, seed=7) if val is None else val
    settings = run_settings(params)
    model = train(
        images, labels, *val, SYNTHETIC_CLASSES, params, settings, progress,
        on_epoch=history.append,
    )  # fmt: skip
    return model, history


def write_idx_set(folder: Path, n_train: int = 300, n_test: int = 60, gz: bool = True) -> dict:
    """Write the four IDX files of a synthetic data set; return {name: md5 of decompressed}."""
    folder.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = synthetic_split(n_train, seed=1)
    test_images, test_labels = synthetic_split(n_test, seed=2)
    arrays = {
        TRAIN_IMAGES: train_images, TRAIN_LABELS: train_labels,
        TEST_IMAGES: test_images, TEST_LABELS: test_labels,
    }  # fmt: skip
    md5 = {}
    for name, array in arrays.items():
        data = encode_idx(array)
        md5[name] = hashlib.md5(data).hexdigest()
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / name).write_bytes(data)
    return md5


@functools.cache
def resolved_stages() -> dict:
    """dvc.yaml's stages as DVC resolves them (`${paths.*}` filled in), by name."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        return {stage.name: stage for stage in repo.index.stages}


def plumbing(root: Path = ROOT) -> dict[str, str]:
    """dvc.yaml's `plumbing`: {path: why} of the code the stages import that cannot change an
    output, and so is no stage's dependency."""
    variables = YAML(typ="safe").load((root / "dvc.yaml").read_text())["vars"]
    return next(entry["plumbing"] for entry in variables if "plumbing" in entry)


def stage_command(name: str) -> list[str]:
    """The command dvc.yaml runs for stage `name`, with this Python and absolute script path."""
    words = shlex.split(resolved_stages()[name].cmd)
    assert words[:2] == ["python", f"stages/{name}.py"], words
    return [sys.executable, str(ROOT / words[1]), *words[2:]]


def tool_env(**extra: str) -> dict:
    """Environment for running dvc, git and stage scripts from the test venv."""
    env = dict(os.environ)
    env.pop("DATASET_SOURCE", None)  # fetch's own: each test sets its own
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        DVC_NO_ANALYTICS="1",
        # The user's global and system DVC config (a default remote, say) stay out of the tests.
        DVC_GLOBAL_CONFIG_DIR=str(ISOLATED_CONFIG / "global"),
        DVC_SYSTEM_CONFIG_DIR=str(ISOLATED_CONFIG / "system"),
        GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@example.com",
    )  # fmt: skip
    env.update(extra)
    return env


def run(cmd: list[str], cwd: Path, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{cmd} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def copy_project(dest: Path, extra: list[str] = (), root: Path = ROOT) -> Path:
    """Copy the project's pipeline files (not its results, unless in `extra`) into `dest`.

    The copy's .dvc/config keeps no remote: a user's own (`dvc remote add -d`, committed as
    the README says) must not reach the tests, which add their own."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in [*PROJECT_FILES, *extra]:
        source, target = root / name, dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, target)
    config = ConfigObj(str(dest / ".dvc" / "config"))  # DVC's own config format and library
    for section in [name for name in config if name.startswith("remote")]:
        del config[section]
    config.get("core", {}).pop("remote", None)
    config.write()
    return dest


def update_params(repo: Path, changes: dict) -> None:
    """Apply {"section.key": value} (or {"key": value} for a top-level key) to the repo's
    params.yaml, read and overridden as the project does (mnist_pipeline.params)."""
    path = repo / "params.yaml"
    writer = YAML(typ="safe")  # block style, keys in params.yaml's order, as DVC writes it
    writer.default_flow_style, writer.sort_base_mapping_type_on_output = False, False
    writer.dump(apply_overrides(read_params(path), changes), path)


def commit(repo: Path, env: dict, message: str) -> None:
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", message], repo, env)


def make_git_repo(repo: Path, env: dict) -> None:
    run(["git", "init", "-q", "-b", "main"], repo, env)
    commit(repo, env, "project copy")


def stages_run(repro_output: str) -> list[str]:
    """Names of the stages that `dvc repro` ran, in order."""
    return [
        line.split("'")[1] for line in repro_output.splitlines() if line.startswith("Running stage")
    ]
