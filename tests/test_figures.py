"""The plot stage's PNG images fit a 1200-px page (DVC's HTML shows them at their own size)."""

import io
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
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


@pytest.mark.heavy
def test_a_user_s_matplotlibrc_does_not_change_the_pngs(tmp_path):
    """The PNGs are outputs DVC caches and restores: the same bytes whatever the user's
    matplotlib settings."""
    (tmp_path / "matplotlibrc").write_text("savefig.dpi: 50\nfont.size: 20\n")
    draw = (
        "import hashlib, numpy as np; from mnist_pipeline import figures; "
        "f = figures.confusion_matrix(np.eye(10, dtype=int) * 5, list('0123456789')); "
        "print(hashlib.md5(figures.png_bytes(f)).hexdigest())"
    )
    md5 = [
        subprocess.run(
            [sys.executable, "-c", draw],
            env={**os.environ, **extra},
            capture_output=True,
            text=True,
            check=True,
        ).stdout  # fmt: skip
        for extra in ({}, {"MPLCONFIGDIR": str(tmp_path)})
    ]
    assert md5[0] == md5[1]
