"""Benchmark: going back to params already run, as a user feels it: the whole `dvc exp run`.

In a scratch clone of this repository's last commit, makes the data (`dvc repro prepare`, from
$MNIST_SOURCE), then runs three experiments, `-S train.lr=0.01`, `0.02` and `0.01` again, each
with `train.epochs` set (default 12), and prints the first run's and the revisit's wall times,
their ratio, which stages the revisit ran, the CPU model and torch's CPU capability.

    MNIST_SOURCE=/path/to/mnist-files python bench/revisit.py [--epochs 12]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        line = next((line for line in cpuinfo if line.startswith("model name")), ":unknown")
    return line.split(":", 1)[1].strip()


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()
    if not os.environ.get("MNIST_SOURCE"):
        sys.exit("error: set MNIST_SOURCE to a folder holding the four MNIST files")
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    os.environ["DATASET_SOURCE"] = os.environ["MNIST_SOURCE"]  # the folder fetch reads
    with tempfile.TemporaryDirectory() as folder:
        repo = Path(folder) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
        subprocess.run(["dvc", "remote", "remove", "storage"], cwd=repo, capture_output=True)
        timed(["dvc", "repro", "prepare"], repo)  # the data; the runs below train
        times = {}
        for name, lr in [("first", "0.01"), ("other", "0.02"), ("revisit", "0.01")]:
            command = [
                "dvc",
                "exp",
                "run",
                "-S",
                f"train.lr={lr}",
                "-S",
                f"train.epochs={args.epochs}",
            ]
            times[name], output = timed(command, repo)
        ran = [
            line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")
        ]
        restored = [
            line.split("'")[1] for line in output.splitlines() if "is cached - skipping" in line
        ]
        shutil.rmtree(repo, ignore_errors=True)
    print(f"{cpu_model()}, torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()})")
    print(
        f"dvc exp run -S train.lr=0.01 ({args.epochs} epochs), first time: {times['first']:6.1f} s"
    )
    print(f"the same params again, after another run:   {times['revisit']:6.1f} s")
    print(f"stages run: {ran or 'none'}; restored from the run-cache: {restored or 'none'}")
    print(f"the revisit takes {times['revisit'] / times['first']:.2f}x the first run's time")


if __name__ == "__main__":
    main()
