"""Benchmark: the fast recipe (`make fast`) over several seeds and precisions, in one process.

Trains on the same data the recipe's prepare stage writes (MNIST's first 59,000 training
images; validation: the last 1,000; test: all 10,000) with the Makefile's fast recipe, for
each seed and precision, and prints the validation accuracy (what a recipe is tuned on) and,
with --test, the test accuracy (reported, never tuned on), the training time, and the mean,
lowest and highest of each column. Native numerics and the machine's core count as threads,
as `make fast`; `--set key=value` changes train params for every run (a recipe being tried).

    python bench/fast_seeds.py [--seeds 0,1,2,3,4] [--precisions bf16,fp32] [--test]
        [--set lr=0.003 ...] [--source DIR]

DIR holds the four IDX files, gzipped or not (default: data/raw, else $MNIST_SOURCE).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from mnist_files import find_source, read_split
from mnist_pipeline import numerics

ROOT = Path(__file__).resolve().parents[1]
# The Makefile's fast recipe (its changes to params.yaml's train section).
FAST = {
    "epochs": 1.5, "batch_size": 256, "lr": 0.005, "optimizer": "adamw", "weight_decay": 0.01,
    "schedule": "onecycle", "numerics": "native", "precision": "auto",
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--precisions", default="bf16,fp32")
    parser.add_argument("--test", action="store_true", help="also report test accuracy")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--source", type=Path)
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    numerics.configure("native", threads)

    from ruamel.yaml import YAML

    from mnist_pipeline import evaluate, inference
    from mnist_pipeline.datasets import MNIST
    from mnist_pipeline.model import to_input
    from mnist_pipeline.params import load_params
    from mnist_pipeline.progress import EpochProgress
    from mnist_pipeline.train import train

    folder = find_source(args.source)
    images, labels = read_split(folder, "train")
    test_images, test_labels = read_split(folder, "test")
    train_set, val_set = (images[:59000], labels[:59000]), (images[59000:], labels[59000:])
    changes = {}
    for pair in args.set:  # values as YAML reads them, as `dvc exp run -S` does
        key, value = pair.split("=", 1)
        changes[key] = YAML(typ="safe").load(value)
    train_changes = {**FAST, **changes, "threads": threads}
    base = load_params(ROOT / "params.yaml", {f"train.{k}": v for k, v in train_changes.items()})
    base = base.train
    print(f"{base}\n{'precision':>9} {'seed':>4} {'val':>7} {'test':>7} {'train s':>8}")
    results: dict[str, list[tuple[float, float]]] = {}
    for precision in args.precisions.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            params = base.model_copy(update={"seed": seed, "precision": precision})
            history = []
            quiet = EpochProgress(2**31, 2**31, lambda line: None, None)
            start = time.monotonic()
            settings = numerics.run_settings(params)
            model = train(
                *train_set, *val_set, MNIST.num_classes, params, settings, quiet,
                on_epoch=history.append,
            )  # fmt: skip
            seconds = time.monotonic() - start
            test = float("nan")
            if args.test:
                logits = inference.predict_logits(model, to_input(test_images))
                test = evaluate.split_metrics(logits, test_labels)["accuracy"]
            val = history[-1].val_accuracy
            results.setdefault(model.precision, []).append((val, test))
            print(
                f"{model.precision:>9} {seed:>4} {val:7.4f} {test:7.4f} {seconds:8.1f}", flush=True
            )
    for precision, runs in results.items():
        for name, column in (("val", [v for v, _ in runs]), ("test", [t for _, t in runs])):
            print(
                f"{precision} {name}: mean {statistics.mean(column):.4f}, "
                f"lowest {min(column):.4f}, highest {max(column):.4f}"
            )


if __name__ == "__main__":
    main()
