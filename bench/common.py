"""What the benchmarks share: the command line, the MNIST files, the machine a timing was taken
on, and the timing itself, in alternating rounds."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from mnist_pipeline import datasets, idx

if TYPE_CHECKING:  # not imported at run time: PyTorch's example in time_to_99.py does not pay it
    from mnist_pipeline.params import Params

ROOT = Path(__file__).resolve().parents[1]


def options(doc: str, **defaults: object) -> argparse.Namespace:
    """The command line, `doc` its help: `--NAME VALUE` for each of `defaults`, of its default's
    type (None: a path); False makes a flag, [] an option that may repeat."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for name, default in defaults.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true")
        elif isinstance(default, list):
            parser.add_argument(flag, action="append", default=[])
        else:
            parser.add_argument(
                flag, type=Path if default is None else type(default), default=default
            )
    return parser.parse_args()


def train_changes(pairs: list[str]) -> dict[str, object]:
    """`--set KEY=VALUE` pairs as params overrides ({"train.KEY": value}), each value read as
    YAML, as `dvc exp run -S` reads it."""
    from ruamel.yaml import YAML  # here: PyTorch's example in time_to_99.py should not pay it

    return {f"train.{k}": YAML(typ="safe").load(v) for k, v in (p.split("=", 1) for p in pairs)}


def find_source() -> Path:
    """The folder holding the four MNIST IDX files, gzipped or not: the pipeline's data/raw,
    else $MNIST_SOURCE. Exits with a one-line error where neither holds them."""
    env = os.environ.get("MNIST_SOURCE")
    folders = [ROOT / "data/raw", *([Path(env)] if env else [])]
    for folder in folders:
        if any((folder / f"{datasets.TRAIN_IMAGES}{ext}").exists() for ext in ("", ".gz")):
            return folder.resolve()
    sys.exit(
        f"error: no MNIST IDX files in {' or '.join(map(str, folders))}: run `dvc repro fetch`, "
        "or set MNIST_SOURCE to a folder holding the four MNIST files"
    )


def read_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """images [n, 28, 28] uint8 and labels [n] of MNIST's "train" or "test" split."""
    folder = find_source()
    names = {
        "train": (datasets.TRAIN_IMAGES, datasets.TRAIN_LABELS),
        "test": (datasets.TEST_IMAGES, datasets.TEST_LABELS),
    }[split]
    paths = [folder / n if (folder / n).exists() else folder / f"{n}.gz" for n in names]
    return idx.read_split(*paths, datasets.MNIST.num_classes)


def prepared(params: Params) -> list[tuple[np.ndarray, np.ndarray]]:
    """The prepare stage's training, validation and test subsets for `params`, as
    (images [n, 28, 28] uint8, labels [n]) pairs, kept in memory."""
    from mnist_pipeline import prepare

    p, k = params.prepare, len(params.data.class_names)
    images, labels = read_split("train")
    train_rows, val_rows = prepare.hold_out(labels, p.n_train, p.n_val, p.selection, p.seed, k)
    test_images, test_labels = read_split("test")
    test_rows = prepare.select(test_labels, p.n_test, p.selection, p.seed, k, "prepare.n_test")
    return [
        (images[train_rows], labels[train_rows]),
        (images[val_rows], labels[val_rows]),
        (test_images[test_rows], test_labels[test_rows]),
    ]


def machine() -> str:
    """The CPU model and core count, torch's version and CPU capability: what a timing
    depends on."""
    with open("/proc/cpuinfo") as cpuinfo:
        line = next((line for line in cpuinfo if line.startswith("model name")), ":unknown CPU")
    return (
        f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores), torch {torch.__version__}, "
        f"capability {torch.backends.cpu.get_cpu_capability()}"
    )


def alternate(
    runs: dict[str, Callable[[], object]], rounds: int
) -> tuple[dict[str, list[float]], dict[str, list]]:
    """Each of `runs` in turn, `rounds` times over, so that a drifting machine load hits all
    alike. Returns each one's wall seconds and its results, `rounds` of each."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, list] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            results[name].append(run())
            seconds[name].append(time.perf_counter() - start)
    return seconds, results
