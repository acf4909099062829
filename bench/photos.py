"""Benchmark: the shipped model on photo-like pages against the same digits clean.

Builds N photo-like JPEGs of real MNIST test digits (tests/photos.py: lighting gradients down
to 150 in random directions, vignetting, a shadow band, sensor noise, JPEG compression) and
the same digits clean (black on white, same size and place, PNG), runs both through
`mnist-pipeline predict`'s own preparation (decode_image, to_mnist) and the model, and prints
the two accuracies, their difference and the preparation time per image of each set.

    python bench/photos.py [--model models/model.pt] [--n 200]

The IDX files, gzipped or not, are read from data/raw, else $MNIST_SOURCE.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from common import ROOT, options, read_split
from mnist_pipeline import checkpoint, inference, numerics
from mnist_pipeline.apps import preprocess

sys.path.insert(0, str(ROOT / "tests"))  # the generator is shared with the tests

import photos  # noqa: E402


def main() -> None:
    args = options(__doc__, model=ROOT / "models/model.pt", n=200)
    images, labels = read_split("test")
    picked = np.random.default_rng(0).choice(len(images), args.n, replace=False)
    saved = checkpoint.load_checkpoint(args.model)
    numerics.configure(saved.numerics, saved.threads)
    truth = np.array([saved.class_names[y] for y in labels[picked]])
    pairs = [photos.photo_and_clean(images[i], seed=int(i)) for i in picked]
    print(f"{args.n} digits of MNIST's test set, pages {photos.PAGE[0]}x{photos.PAGE[1]}")
    accuracy = {}
    for kind, files in (("clean", [c for _, c in pairs]), ("photo", [p for p, _ in pairs])):
        start = time.perf_counter()  # predict's steps
        prepared = [preprocess.to_mnist(preprocess.decode_image(f, kind), kind) for f in files]
        ms = (time.perf_counter() - start) / len(files) * 1000
        got = [
            r["predicted"]
            for r in inference.classify(saved.model, np.stack(prepared), saved.class_names)
        ]
        accuracy[kind] = float(np.mean(np.array(got) == truth))
        print(f"{kind}: accuracy {accuracy[kind]:.3f}, {ms:.0f} ms per image")
    difference = 100 * (accuracy["clean"] - accuracy["photo"])
    print(f"difference: {difference:+.1f} points (photo lower when positive)")


if __name__ == "__main__":
    main()
