"""Benchmark: the project's trainer against the reference tutorial's training loop, and what
validating after every epoch costs.

In one process, on the same 1,000 MNIST training images, the same network, SGD
(lr 0.005, batch 10) and cross-entropy, trains with
  (a) the reference: a per-item Dataset and DataLoader(batch_size=10, shuffle=True),
  (b) the project's trainer (mnist_pipeline.train.train), validating on the 1,000 held-out
      images after every epoch, as the train stage does by default, and
  (c) the same trainer validating on a single image (validation all but removed),
alternating them for several rounds, and prints the median images per second, the ratio
(b)/(a), and validation's share of the training time, 1 - (c)/(b) in images per second.

    python bench/train.py [--source DIR] [--rounds 5] [--epochs 3] [--threads 1]

DIR holds the four IDX files, gzipped or not (default: data/raw, else $MNIST_SOURCE).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mnist_files import find_source, read_split
from mnist_pipeline import numerics
from mnist_pipeline.datasets import MNIST
from mnist_pipeline.model import MnistCnn
from mnist_pipeline.params import load_params
from mnist_pipeline.progress import EpochProgress
from mnist_pipeline.train import train

ROOT = Path(__file__).resolve().parents[1]


class ReferenceDataset(Dataset):
    """One image at a time, as the tutorial writes it."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        image = torch.tensor(self.images[i], dtype=torch.float32).unsqueeze(0) / 255.0
        return image, int(self.labels[i])


def reference_train(images: np.ndarray, labels: np.ndarray, epochs: int) -> None:
    torch.manual_seed(0)
    model = MnistCnn()  # in the default memory format, as the tutorial has it
    loader = DataLoader(ReferenceDataset(images, labels), batch_size=10, shuffle=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.005)
    criterion = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        running_loss = 0.0
        for x, y in loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    all_images, all_labels = read_split(find_source(args.source), "train")
    overrides = {"train.epochs": args.epochs, "train.threads": args.threads}
    committed = load_params(ROOT / "params.yaml", overrides)  # the reference recipe
    params, n_train, n_val = committed.train, committed.prepare.n_train, committed.prepare.n_val
    images, labels = all_images[:n_train], all_labels[:n_train]  # prepare's "first" selection
    val = all_images[-n_val:], all_labels[-n_val:]  # prepare's hold-out

    def project(val_images: np.ndarray, val_labels: np.ndarray) -> None:
        quiet = EpochProgress(params.epochs, 10**6, lambda line: None, None)
        settings = numerics.run_settings(params)
        train(images, labels, val_images, val_labels, MNIST.num_classes, params, settings, quiet)

    runners = {
        "reference DataLoader": lambda: reference_train(images, labels, args.epochs),
        "project trainer": lambda: project(*val),
        "  validating 1 image": lambda: project(val[0][:1], val[1][:1]),
    }
    # Both sides compute with the committed numerics and thread count, fixed before the first
    # computation of the process (the project's trainer would refuse to after it).
    numerics.configure(params.numerics, params.threads)
    rates = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():  # alternate, so drifting machine load hits both
            start = time.perf_counter()
            run()
            rates[name].append(n_train * args.epochs / (time.perf_counter() - start))
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {args.rounds} rounds of "
        f"{args.epochs} epochs on {n_train} images"
    )
    medians = {name: statistics.median(r) for name, r in rates.items()}
    for name, rate in medians.items():
        print(f"{name:>21}: median {rate:8.0f} images/s")
    print(
        f"project trainer is {medians['project trainer'] / medians['reference DataLoader']:.2f}x "
        "the reference's speed"
    )
    share = 1 - medians["project trainer"] / medians["  validating 1 image"]
    print(f"validating {n_val} images after every epoch costs {share:.1%} of training time")


if __name__ == "__main__":
    main()
