"""Where the benchmarks find the four MNIST IDX files, gzipped or not: `--source DIR` where a
script takes it, else the pipeline's data/raw, else $MNIST_SOURCE."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from mnist_pipeline import datasets, idx

ROOT = Path(__file__).resolve().parents[1]


def find_source(given: Path | None = None) -> Path:
    """The folder holding the files, absolute; exits with a one-line error where none does."""
    env = os.environ.get("MNIST_SOURCE")
    folders = [given] if given else [ROOT / "data/raw", *([Path(env)] if env else [])]
    for folder in folders:
        if any((folder / f"{datasets.TRAIN_IMAGES}{ext}").exists() for ext in ("", ".gz")):
            return folder.resolve()
    if given:
        sys.exit(f"error: no MNIST IDX files in {given}")
    sys.exit(
        f"error: no MNIST IDX files in {' or '.join(map(str, folders))}: run `dvc repro fetch`, "
        "or set MNIST_SOURCE to a folder holding the four MNIST files (or pass --source DIR)"
    )


def idx_path(folder: Path, name: str) -> Path:
    return folder / name if (folder / name).exists() else folder / f"{name}.gz"


def read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """images [n, 28, 28] uint8 and labels [n] of MNIST's "train" or "test" split."""
    images, labels = {
        "train": (datasets.TRAIN_IMAGES, datasets.TRAIN_LABELS),
        "test": (datasets.TEST_IMAGES, datasets.TEST_LABELS),
    }[split]
    return idx.read_split(
        idx_path(folder, images), idx_path(folder, labels), datasets.MNIST.num_classes
    )
