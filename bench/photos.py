"""Benchmark: the shipped model on photo-like pages against the same digits clean.

Builds N photo-like JPEGs of real MNIST test digits (tests/photos.py: lighting gradients down
to 150 in random directions, vignetting, a shadow band, sensor noise, JPEG compression) and
the same digits clean (black on white, same size and place, PNG), runs both through
`mnist-pipeline predict`'s own preparation (decode_image, to_mnist) and the model, and prints
the two accuracies, their difference and the preparation time per image of each set.

    python bench/photos.py [--model models/model.pt] [--source DIR] [-n 200] [--seed 0]

DIR holds MNIST's test files, gzipped or not (default: $MNIST_SOURCE).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from mnist_pipeline import checkpoint, inference, numerics
from mnist_pipeline.apps import preprocess
from mnist_pipeline.datasets import MNIST, TEST_IMAGES, TEST_LABELS
from mnist_pipeline.idx import read_split

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the generator is shared with the tests

import photos  # noqa: E402


def accuracy(files: list[bytes], labels: np.ndarray, net, names) -> tuple[float, float]:
    """(accuracy, seconds of preparation per image) of `files` through predict's steps."""
    start = time.perf_counter()
    images = np.stack(
        [preprocess.to_mnist(preprocess.decode_image(f, "bench"), "bench") for f in files]
    )
    seconds = (time.perf_counter() - start) / len(files)
    got = [r["predicted"] for r in inference.classify(net, images, names)]
    return float(np.mean(np.array(got) == np.array([names[y] for y in labels]))), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models/model.pt")
    parser.add_argument("--source", type=Path, default=os.environ.get("MNIST_SOURCE"))
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.source is None:
        sys.exit(
            "error: MNIST_SOURCE is unset: set it to a folder holding the four MNIST files "
            "(or pass --source DIR)"
        )

    def found(name: str) -> Path:
        for path in (args.source / f"{name}.gz", args.source / name):
            if path.exists():
                return path
        sys.exit(f"error: {args.source}: no {name} or {name}.gz; pass --source DIR")

    images, labels = read_split(found(TEST_IMAGES), found(TEST_LABELS), MNIST.num_classes)
    picked = np.random.default_rng(args.seed).choice(len(images), args.n, replace=False)
    saved = checkpoint.load_checkpoint(args.model)
    numerics.configure(saved.numerics, saved.threads)
    net = saved.model
    pairs = [photos.photo_and_clean(images[i], seed=args.seed * 100_003 + int(i)) for i in picked]
    photo_acc, photo_s = accuracy([p for p, _ in pairs], labels[picked], net, saved.class_names)
    clean_acc, clean_s = accuracy([c for _, c in pairs], labels[picked], net, saved.class_names)
    print(f"{args.n} digits of MNIST's test set, pages {photos.PAGE[0]}x{photos.PAGE[1]}")
    print(f"clean: accuracy {clean_acc:.3f}, {clean_s * 1000:.0f} ms per image")
    print(f"photo: accuracy {photo_acc:.3f}, {photo_s * 1000:.0f} ms per image")
    print(f"difference: {100 * (clean_acc - photo_acc):+.1f} points (photo lower when positive)")


if __name__ == "__main__":
    main()
