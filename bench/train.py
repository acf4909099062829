"""Benchmark: the project's trainer against the reference tutorial's training loop, and what
validating after every epoch costs.

In one process, on the same 1,000 MNIST training images, the same network, SGD
(lr 0.005, batch 10) and cross-entropy, 3 epochs, trains with
  (a) the reference: a per-item Dataset and DataLoader(batch_size=10, shuffle=True),
  (b) the project's trainer (mnist_pipeline.train.train), validating on the 1,000 held-out
      images after every epoch, as the train stage does by default, and
  (c) the same trainer validating on a single image (validation all but removed),
alternating them for several rounds, in params.yaml's numerics and threads, and prints the
median images per second, the ratio (b)/(a), and validation's share of the training time,
1 - (c)/(b) in images per second.

    python bench/train.py [--rounds 5]

The IDX files, gzipped or not, are read from data/raw, else $MNIST_SOURCE.
"""

from __future__ import annotations

import statistics

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from common import ROOT, alternate, options, read_split
from mnist_pipeline import numerics
from mnist_pipeline.model import MnistCnn
from mnist_pipeline.params import load_params
from mnist_pipeline.progress import EpochProgress
from mnist_pipeline.train import train

EPOCHS = 3


class ReferenceDataset(Dataset):
    """One image at a time, as the tutorial writes it."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        image = torch.tensor(self.images[i], dtype=torch.float32).unsqueeze(0) / 255.0
        return image, int(self.labels[i])


def reference_train(images: np.ndarray, labels: np.ndarray) -> None:
    torch.manual_seed(0)
    model = MnistCnn().train()  # in the default memory format, as the tutorial has it
    loader = DataLoader(ReferenceDataset(images, labels), batch_size=10, shuffle=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.005)
    criterion = nn.CrossEntropyLoss()
    for _ in range(EPOCHS):
        running_loss = 0.0
        for x, y in loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()  # the tutorial's, and its cost


def main() -> None:
    args = options(__doc__, rounds=5)
    committed = load_params(ROOT / "params.yaml", {"train.epochs": EPOCHS})  # the reference recipe
    params, n_train, n_val = committed.train, committed.prepare.n_train, committed.prepare.n_val
    all_images, all_labels = read_split("train")
    images, labels = all_images[:n_train], all_labels[:n_train]  # prepare's "first" selection
    val = all_images[-n_val:], all_labels[-n_val:]  # prepare's hold-out
    # Both sides compute with the committed numerics and thread count, fixed before the first
    # computation of the process (the project's trainer would refuse to after it).
    numerics.configure(params.numerics, params.threads)

    def project(val_images: np.ndarray, val_labels: np.ndarray) -> None:
        quiet = EpochProgress(EPOCHS, 10**6, lambda line: None, None)
        settings = numerics.run_settings(params)
        train(images, labels, val_images, val_labels, 10, params, settings, quiet)

    seconds, _ = alternate({"reference DataLoader": lambda: reference_train(images, labels),
                            "project trainer": lambda: project(*val),
                            "  validating 1 image": lambda: project(val[0][:1], val[1][:1])},
                           args.rounds)  # fmt: skip
    rates = {name: n_train * EPOCHS / statistics.median(s) for name, s in seconds.items()}
    print(f"torch {torch.__version__}, {params.threads} thread(s), {args.rounds} rounds of "
          f"{EPOCHS} epochs on {n_train} images")  # fmt: skip
    for name, rate in rates.items():
        print(f"{name:>21}: median {rate:8.0f} images/s")
    ratio = rates["project trainer"] / rates["reference DataLoader"]
    print(f"project trainer is {ratio:.2f}x the reference's speed")
    share = 1 - rates["project trainer"] / rates["  validating 1 image"]
    print(f"validating {n_val} images after every epoch costs {share:.1%} of training time")


if __name__ == "__main__":
    main()
