"""Benchmark: fetching the four real MNIST files from a folder, streamed and bounded (the
project) against reading each whole and gunzipping it in one call (the unbounded way fetch
worked before), in the same process, alternating rounds. Both must give the canonical md5s.

    MNIST_SOURCE=DIR python bench/fetch.py [--rounds 5]

DIR holds the four gzipped IDX files.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import statistics
import sys
from functools import partial
from pathlib import Path

from common import alternate, options
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
    args = options(__doc__, rounds=5)
    folder = Path(os.environ.get("MNIST_SOURCE", ""))
    if not (folder / f"{datasets.TRAIN_IMAGES}.gz").is_file():
        sys.exit("error: set MNIST_SOURCE to a folder holding the four MNIST .gz files")
    runs = {"unbounded, whole files": unbounded, "project, streamed": bounded}
    seconds, md5s = alternate(
        {name: partial(run, folder) for name, run in runs.items()}, args.rounds
    )
    if any(md5 != datasets.MNIST.md5 for results in md5s.values() for md5 in results):
        sys.exit(f"error: wrong md5s: {md5s}")
    medians = {name: statistics.median(s) for name, s in seconds.items()}
    for name, median in medians.items():
        print(f"{name:>22}: median {median:6.3f} s of {args.rounds}")
    print("md5s of all four files canonical in both")
    ratio = medians["unbounded, whole files"] / medians["project, streamed"]
    print(f"project takes {1 / ratio:.2f}x the unbounded time ({ratio:.2f}x its speed)")


if __name__ == "__main__":
    main()
