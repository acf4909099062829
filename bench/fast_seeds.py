"""Benchmark: the fast recipe (`make fast`) over several seeds and precisions, in one process.

Trains on the same data the recipe's prepare stage writes (MNIST's first 59,000 training
images; validation: the last 1,000; test: all 10,000) with the Makefile's fast recipe, for
each seed and precision, and prints the validation accuracy (what a recipe is tuned on) and,
with --test, the test accuracy (reported, never tuned on), the training time, and the mean,
lowest and highest of each column. Native numerics and the machine's core count as threads,
as `make fast`; `--set key=value` changes train params for every run (a recipe being tried).

    python bench/fast_seeds.py [--seeds 0,1,2,3,4] [--precisions bf16,fp32] [--test]
        [--set lr=0.003 ...]

The IDX files, gzipped or not, are read from data/raw, else $MNIST_SOURCE.
"""

from __future__ import annotations

import os
import statistics
import time

from common import ROOT, options, read_split, train_changes
from mnist_pipeline import evaluate, inference, numerics
from mnist_pipeline.model import to_input
from mnist_pipeline.params import load_params
from mnist_pipeline.progress import EpochProgress
from mnist_pipeline.train import train

# The Makefile's fast recipe (its changes to params.yaml's train section).
FAST = {
    "epochs": 1.5, "batch_size": 256, "lr": 0.005, "optimizer": "adamw", "weight_decay": 0.01,
    "schedule": "onecycle", "numerics": "native", "precision": "auto", "threads": os.cpu_count(),
}  # fmt: skip


def main() -> None:
    args = options(__doc__, seeds="0,1,2,3,4", precisions="bf16,fp32", test=False, set=[])
    changes = {f"train.{key}": value for key, value in FAST.items()} | train_changes(args.set)
    base = load_params(ROOT / "params.yaml", changes).train
    numerics.configure(base.numerics, base.threads)
    images, labels = read_split("train")
    test_images, test_labels = read_split("test")
    print(f"{base}\n{'precision':>9} {'seed':>4} {'val':>7} {'test':>7} {'train s':>8}")
    results: dict[str, list[tuple[float, float]]] = {}
    for precision in args.precisions.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            params = base.model_copy(update={"seed": seed, "precision": precision})
            history: list = []
            quiet = EpochProgress(2**31, 2**31, lambda line: None, None)
            start = time.monotonic()
            model = train(
                images[:59000], labels[:59000], images[59000:], labels[59000:], 10, params,
                numerics.run_settings(params), quiet, on_epoch=history.append,
            )  # fmt: skip
            seconds, test = time.monotonic() - start, float("nan")
            if args.test:
                logits = inference.predict_logits(model, to_input(test_images))
                test = evaluate.split_metrics(logits, test_labels)["accuracy"]
            val = history[-1].val_accuracy
            results.setdefault(model.precision, []).append((val, test))
            print(
                f"{model.precision:>9} {seed:>4} {val:7.4f} {test:7.4f} {seconds:8.1f}", flush=True
            )
    for precision, runs in results.items():
        for i, name in enumerate(("val", "test")):
            column = [run[i] for run in runs]
            print(
                f"{precision} {name}: mean {statistics.mean(column):.4f}, "
                f"lowest {min(column):.4f}, highest {max(column):.4f}"
            )


if __name__ == "__main__":
    main()
