"""Benchmark: IDX -> TSV for the full MNIST (60,000 train + 10,000 test images).

Runs, in this one process, the project's converter (mnist_pipeline.tsv.encode), the same
with all rows in one chunk (tsv.ROWS_PER_CHUNK: what converting in cache-sized chunks gains),
numpy.savetxt, and a per-pixel Python writer (the usual hand-written converter), checks the
outputs are byte-identical, and prints the median of several rounds for each and the ratios.

    python bench/convert.py [--source DIR] [--rounds 5]

DIR holds the four IDX files, gzipped or not (default: data/raw, else $MNIST_SOURCE).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

from mnist_files import find_source, read_split
from mnist_pipeline import tsv


def project(images: np.ndarray, labels: np.ndarray, path: Path) -> None:
    path.write_bytes(tsv.encode(images, labels))


def project_one_chunk(images: np.ndarray, labels: np.ndarray, path: Path) -> None:
    """The project's converter with every row in one chunk: what chunking gains."""
    with mock.patch.object(tsv, "ROWS_PER_CHUNK", len(images)):
        project(images, labels, path)


def numpy_savetxt(images: np.ndarray, labels: np.ndarray, path: Path) -> None:
    table = np.concatenate([images.reshape(len(images), -1), labels[:, None]], axis=1)
    np.savetxt(path, table, fmt="%d", delimiter="\t")


def per_pixel_python(images: np.ndarray, labels: np.ndarray, path: Path) -> None:
    pixels, label_list = images.reshape(len(images), -1).tolist(), labels.tolist()
    with open(path, "w", newline="\n") as out:
        for row, label in zip(pixels, label_list, strict=True):
            fields = [str(pixel) for pixel in row]
            fields.append(str(label))
            out.write("\t".join(fields) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    folder = find_source(args.source)
    splits = [read_split(folder, "train"), read_split(folder, "test")]
    n_images = sum(len(labels) for _, labels in splits)
    converters = {
        "project": project,
        "project, one chunk": project_one_chunk,
        "numpy.savetxt": numpy_savetxt,
        "per-pixel Python": per_pixel_python,
    }
    medians, digests = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, convert in converters.items():
            times = []
            for _ in range(args.rounds):
                outputs = [Path(tmp) / f"{name}-{i}.tsv" for i in range(len(splits))]
                start = time.perf_counter()
                for (images, labels), path in zip(splits, outputs, strict=True):
                    convert(images, labels, path)
                times.append(time.perf_counter() - start)
            digests[name] = [hashlib.md5(p.read_bytes()).hexdigest() for p in outputs]
            medians[name] = statistics.median(times)
            print(
                f"{name:>18}: median {medians[name]:7.3f} s of {args.rounds} "
                f"({n_images / medians[name]:,.0f} images/s)",
                flush=True,
            )
    if len({tuple(d) for d in digests.values()}) != 1:
        sys.exit(f"error: outputs differ: {digests}")
    print(f"outputs byte-identical (train md5 {digests['project'][0]})")
    for name in ("project, one chunk", "numpy.savetxt", "per-pixel Python"):
        print(f"project is {medians[name] / medians['project']:.1f}x faster than {name}")


if __name__ == "__main__":
    main()
