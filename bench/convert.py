"""Benchmark: IDX -> TSV for the full MNIST (60,000 train + 10,000 test images).

Runs, in this one process and in alternating rounds, the project's converter
(mnist_pipeline.tsv.encode), the same with all rows in one chunk (tsv.ROWS_PER_CHUNK: what
converting in cache-sized chunks gains), numpy.savetxt, and a per-pixel Python writer (the
usual hand-written converter), checks the outputs are byte-identical, and prints the median of
the rounds for each and the ratios.

    python bench/convert.py [--rounds 5]

The IDX files, gzipped or not, are read from data/raw, else $MNIST_SOURCE.
"""

from __future__ import annotations

import hashlib
import statistics
import sys
import tempfile
from functools import partial
from pathlib import Path
from unittest import mock

import numpy as np

from common import alternate, options, read_split
from mnist_pipeline import tsv


def project(images: np.ndarray, labels: np.ndarray, path: Path) -> None:
    path.write_bytes(tsv.encode(images, labels))


def project_one_chunk(images: np.ndarray, labels: np.ndarray, path: Path) -> None:
    with mock.patch.object(tsv, "ROWS_PER_CHUNK", len(images)):
        project(images, labels, path)


def numpy_savetxt(images: np.ndarray, labels: np.ndarray, path: Path) -> None:
    table = np.concatenate([images.reshape(len(images), -1), labels[:, None]], axis=1)
    np.savetxt(path, table, fmt="%d", delimiter="\t")


def per_pixel_python(images: np.ndarray, labels: np.ndarray, path: Path) -> None:
    with open(path, "w", newline="\n") as out:
        for row, label in zip(
            images.reshape(len(images), -1).tolist(), labels.tolist(), strict=True
        ):
            out.write("\t".join([str(pixel) for pixel in row] + [str(label)]) + "\n")


CONVERTERS = {
    "project": project,
    "project, one chunk": project_one_chunk,
    "numpy.savetxt": numpy_savetxt,
    "per-pixel Python": per_pixel_python,
}


def main() -> None:
    args = options(__doc__, rounds=5)
    splits = [read_split("train"), read_split("test")]
    n_images = sum(len(labels) for _, labels in splits)
    with tempfile.TemporaryDirectory() as tmp:
        outputs = {name: [Path(tmp) / f"{name}-{i}.tsv" for i in range(2)] for name in CONVERTERS}

        def run(name: str) -> None:
            for (images, labels), path in zip(splits, outputs[name], strict=True):
                CONVERTERS[name](images, labels, path)

        seconds, _ = alternate({name: partial(run, name) for name in CONVERTERS}, args.rounds)
        digests = {
            name: tuple(hashlib.md5(path.read_bytes()).hexdigest() for path in paths)
            for name, paths in outputs.items()
        }
    medians = {name: statistics.median(s) for name, s in seconds.items()}
    for name, median in medians.items():
        rate = n_images / median
        print(f"{name:>18}: median {median:7.3f} s of {args.rounds} ({rate:,.0f} images/s)")
    if len(set(digests.values())) != 1:
        sys.exit(f"error: outputs differ: {digests}")
    print(f"outputs byte-identical (train md5 {digests['project'][0]})")
    for name in list(CONVERTERS)[1:]:
        print(f"project is {medians[name] / medians['project']:.1f}x faster than {name}")


if __name__ == "__main__":
    main()
