"""Benchmark: the fast recipe (`make fast`) over several seeds and precisions, in one process.

Trains on the same data the recipe's prepare stage writes (MNIST's first 59,000 training
images; validation: the last 1,000; test: all 10,000) with the Makefile's fast recipe, for
each seed and precision, and prints the CPU, then the validation accuracy (what a recipe is
tuned on) and, with --test, the test accuracy (reported, never tuned on), the training time,
and the mean, lowest and highest of each column. Native numerics and the machine's core count
as threads, as `make fast`; `--set key=value` changes train params for every run (a recipe
being tried). bench/gpu_check.py runs the same seeds on a GPU.

    python bench/fast_seeds.py [--seeds 0,1,2,3,4] [--precisions bf16,fp32] [--test]
        [--set lr=0.003 ...]

The IDX files, gzipped or not, are read from data/raw, else $MNIST_SOURCE.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass

import numpy as np

from common import ROOT, machine, options, prepared, train_changes
from mnist_pipeline import evaluate, inference, model, numerics
from mnist_pipeline.params import Params, load_params
from mnist_pipeline.progress import EpochProgress
from mnist_pipeline.train import train

# The Makefile's fast recipe (its changes to params.yaml), threads: its $(shell nproc).
FAST = {
    "prepare.n_train": 59000, "prepare.n_test": 10000, "train.epochs": 1.5,
    "train.batch_size": 256, "train.lr": 0.005, "train.optimizer": "adamw",
    "train.weight_decay": 0.01, "train.schedule": "onecycle", "train.numerics": "native",
    "train.precision": "auto", "train.threads": len(os.sched_getaffinity(0)),
}  # fmt: skip


@dataclass
class Run:
    """One seed's run: the network, its accuracies, and seconds: `setup` from train()'s call to
    its first epoch, `training` from there to its return, `evaluate` the evaluate stage's work."""

    net: model.MnistCnn
    val: float
    test: float
    setup: float
    training: float
    evaluate: float


def run_seed(params: Params, seed: int, precision: str, sets: list) -> Run:
    """Trains the recipe `params` with `seed` and `precision` on `sets` (common.prepared's), the
    process configured for it beforehand, then does the evaluate stage's work on the CPU: the
    training and test subsets' metrics, the fake image's prediction."""
    train_params = params.train.model_copy(update={"seed": seed, "precision": precision})
    (images, labels), val_set, (test_images, test_labels) = sets
    history: list = []
    progress = EpochProgress(train_params.epochs, 2**31, lambda line: None, None)
    called = time.monotonic()
    net = train(images, labels, *val_set, len(params.data.class_names), train_params,
                numerics.run_settings(train_params), progress, history.append)  # fmt: skip
    trained = time.monotonic()
    evaluate.split_metrics(inference.predict_logits(net, model.to_input(images)), labels)
    test_logits = inference.predict_logits(net, model.to_input(test_images))
    test = evaluate.split_metrics(test_logits, test_labels)["accuracy"]
    evaluate.fake_image_prediction(net, list(params.data.class_names))
    assert progress.start is not None  # set when the first epoch began
    return Run(net, history[-1].val_accuracy, test, progress.start - called,
               trained - progress.start, time.monotonic() - trained)  # fmt: skip


def spread(name: str, values: list[float]) -> str:
    """The accuracies' mean, lowest and highest, after `name`."""
    return (f"{name}: mean {statistics.mean(values):.4f}, lowest {min(values):.4f}, "
            f"highest {max(values):.4f}")  # fmt: skip


def main() -> None:
    args = options(__doc__, seeds="0,1,2,3,4", precisions="bf16,fp32", test=False, set=[])
    params = load_params(ROOT / "params.yaml", FAST | train_changes(args.set))
    settings = numerics.run_settings(params.train)  # as the train stage: configured first
    numerics.configure(settings.numerics, settings.threads)
    sets = prepared(params)
    print(f"CPU: {machine()}\n{params.train}")
    print(f"{'precision':>9} {'seed':>4} {'val':>7} {'test':>7} {'train s':>8}")
    results: dict[str, list[tuple[float, float]]] = {}
    for precision in args.precisions.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            run = run_seed(params, seed, precision, sets)
            test = run.test if args.test else np.nan
            results.setdefault(run.net.precision, []).append((run.val, test))
            print(f"{run.net.precision:>9} {seed:>4} {run.val:7.4f} {test:7.4f} "
                  f"{run.setup + run.training:8.1f}", flush=True)  # fmt: skip
    for precision, runs in results.items():
        for i, name in enumerate(("val", "test")):
            print(spread(f"{precision} {name}", [run[i] for run in runs]))


if __name__ == "__main__":
    main()
