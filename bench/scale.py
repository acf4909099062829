"""Benchmark: the train stage on 1, 2 and 4 processes (one thread each) against one process with
all the machine's threads, at full scale, and what the launcher's start-up costs.

Runs `python stages/train.py` as a user runs it, each as a whole process, with the Makefile's
`full-scale` recipe for one epoch on the prepare stage's TSVs (59,000 training images,
validating on 1,000; written to a temporary folder), train.processes and train.threads set in
its params file. Prints, a row a run: the wall seconds of the process, the seconds of its epoch
(from its epoch line: training and validation), images/s over that epoch and its ratio to the
one-process, all-threads run, and start-up (wall minus epoch: imports, reading the TSVs, the
launcher and its ranks, writing the model). The launcher's start-up is the 2-process run's
start-up minus the 1-process, 1-thread run's.

    python bench/scale.py [--quick] [--rounds 1]     # --quick: 5,000 training images

With --rounds N the four runs take turns N times, so that a drifting load hits all alike, and
each row shows the medians.

The IDX files, gzipped or not, are read from data/raw, else $MNIST_SOURCE.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from common import ROOT, alternate, machine, options, prepared
from mnist_pipeline import tsv
from mnist_pipeline.params import apply_overrides, load_params, read_params

# The Makefile's full-scale recipe, one epoch instead of three.
FULL_SCALE = {
    "prepare.n_train": 59000, "prepare.n_test": 10000, "train.epochs": 1,
    "train.batch_size": 128, "train.lr": 0.003, "train.optimizer": "adamw",
    "train.weight_decay": 0.01, "train.schedule": "onecycle",
}  # fmt: skip


def run_stage(folder: Path, recipe: dict, processes: int, threads: int) -> tuple[float, float]:
    """The train stage with `processes` ranks of `threads` threads: its wall seconds and its
    epoch's seconds, as its epoch line prints them."""
    changes = recipe | {"train.processes": processes, "train.threads": threads}
    params = folder / f"params-{processes}x{threads}.yaml"
    # JSON is YAML 1.2: the file reads as params.yaml does.
    params.write_text(json.dumps(apply_overrides(read_params(ROOT / "params.yaml"), changes)))
    paths = [f"--{name}={folder / name}" for name in ("train", "val", "model", "history")]
    command = [sys.executable, ROOT / "stages/train.py", "--params", params, *paths]
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder)
    wall = time.monotonic() - start
    epoch = re.search(r"^epoch +1/1 .* ([\d.]+) s$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not epoch:
        sys.exit(f"error: {processes} processes failed:\n{done.stdout + done.stderr}")
    return wall, float(epoch.group(1))


def main() -> None:
    args = options(__doc__, quick=False, rounds=1)
    recipe = FULL_SCALE | ({"prepare.n_train": 5000} if args.quick else {})
    cores = len(os.sched_getaffinity(0))
    print(f"CPU: {machine()}")
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        train, val, _ = prepared(load_params(ROOT / "params.yaml", recipe))
        (folder / "train").write_bytes(tsv.encode(*train))
        (folder / "val").write_bytes(tsv.encode(*val))
        print(f"{len(train[1])} training images, 1 epoch, batch 128 (global)")
        print(f"{'processes':>9} {'threads':>7} {'wall s':>7} {'epoch s':>7} {'images/s':>8} "
              f"{'ratio':>5} {'start-up s':>10}")  # fmt: skip
        # (processes, threads each); the first, one process with all threads, is the baseline.
        configs = ((1, cores), (1, 1), (2, 1), (4, 1))
        runs = {(p, t): partial(run_stage, folder, recipe, p, t) for p, t in configs}
        _, results = alternate(runs, args.rounds)
    startup, baseline = {}, 0.0
    for (processes, threads), timings in results.items():
        wall, epoch = (statistics.median(column) for column in zip(*timings, strict=True))
        rate = len(train[1]) / epoch
        baseline = baseline or rate  # the first run: one process, all threads
        startup[processes, threads] = wall - epoch
        print(f"{processes:>9} {threads:>7} {wall:7.1f} {epoch:7.1f} {rate:8.0f} "
              f"{rate / baseline:5.2f} {wall - epoch:10.1f}")  # fmt: skip
    print(f"the launcher's start-up (2 processes against 1): "
          f"{startup[2, 1] - startup[1, 1]:.1f} s")  # fmt: skip
    print("load average at the end (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
