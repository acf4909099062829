"""The plot stage's PNG images fit a 1200-px page (DVC's HTML shows them at their own size)."""

import io

import numpy as np
import pandas as pd
from PIL import Image

from mnist_pipeline import figures

PAGE_WIDTH = 1200
CLASSES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def width(figure) -> int:
    return Image.open(io.BytesIO(figures.png_bytes(figure))).size[0]


def test_every_png_fits_a_1200_px_page():
    epochs = np.arange(1, 51)
    curves = {f"{s}/{q}": 1 / epochs for s in ("train", "val") for q in ("loss", "accuracy")}
    history = pd.DataFrame({"epoch": epochs, **curves})
    counts = np.full((10, 10), 90)  # three-digit counts in every cell
    # More wrong predictions than the grid shows: its widest form.
    actual, predicted = np.arange(100) % 10, (np.arange(100) + 1) % 10
    images = np.zeros((100, 28, 28), dtype=np.uint8)
    widths = {
        "learning curves": width(figures.learning_curves(history)),
        "confusion": width(figures.confusion_matrix(counts, CLASSES)),
        "misclassified": width(figures.misclassified_grid(images, actual, predicted, CLASSES)),
    }
    assert all(600 <= w <= PAGE_WIDTH for w in widths.values()), widths
