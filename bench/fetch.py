"""Benchmark: fetching the four real MNIST files from a folder, streamed and bounded (the
project) against reading each whole and gunzipping it in one call (the unbounded way fetch
worked before), in the same process, alternating rounds. Both must give the canonical md5s.

    python bench/fetch.py [--source DIR] [--rounds 5]

DIR holds the four gzipped IDX files (default: $MNIST_SOURCE).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path

from mnist_pipeline import datasets, fetch


def unbounded(folder: Path) -> dict[str, str]:
    return {
        name: hashlib.md5(gzip.decompress((folder / f"{name}.gz").read_bytes())).hexdigest()
        for name in datasets.FILE_NAMES
    }


def bounded(folder: Path) -> dict[str, str]:
    return {
        name: hashlib.md5(fetch.fetch_file(name, md5, [str(folder)], lambda _: None)).hexdigest()
        for name, md5 in datasets.MNIST.md5.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=os.environ.get("MNIST_SOURCE"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.source is None:
        sys.exit(
            "error: MNIST_SOURCE is unset: set it to a folder holding the four MNIST .gz files "
            "(or pass --source DIR)"
        )
    if not (args.source / f"{datasets.TRAIN_IMAGES}.gz").exists():
        sys.exit(f"error: {args.source}: no MNIST .gz files; pass --source DIR")
    runners = {"unbounded, whole files": unbounded, "project, streamed": bounded}
    seconds = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            start = time.perf_counter()
            md5 = run(args.source)
            seconds[name].append(time.perf_counter() - start)
            assert md5 == datasets.MNIST.md5, f"{name}: wrong md5s {md5}"
    medians = {name: statistics.median(s) for name, s in seconds.items()}
    for name, median in medians.items():
        print(f"{name:>22}: median {median:6.3f} s of {args.rounds}")
    print("md5s of all four files canonical in both")
    ratio = medians["unbounded, whole files"] / medians["project, streamed"]
    print(f"project takes {1 / ratio:.2f}x the unbounded time ({ratio:.2f}x its speed)")


if __name__ == "__main__":
    main()
