"""Matplotlib figures of a run: learning curves, confusion matrix, misclassified test images."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # files only, no display; before pyplot is imported
# Matplotlib's own defaults, not a user's matplotlibrc (dpi, fonts...): the PNGs are outputs
# DVC caches and restores, the same bytes on every machine.
matplotlib.rcdefaults()

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

GRID_COLUMNS = 8
GRID_MAX = 32  # the first misclassified images shown


def learning_curves(history: pd.DataFrame) -> Figure:
    """history: history.read's table. Loss and accuracy, training against validation."""
    fig, (loss_ax, accuracy_ax) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for ax, quantity, label in [
        (loss_ax, "loss", "cross-entropy loss per image"),
        (accuracy_ax, "accuracy", "accuracy"),
    ]:
        ax.plot(history["epoch"], history[f"train/{quantity}"], marker="o", markersize=3,
                label="training (over the epoch's batches)")  # fmt: skip
        ax.plot(history["epoch"], history[f"val/{quantity}"], marker="o", markersize=3,
                label="validation (after the epoch)")  # fmt: skip
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    loss_ax.set_title("Loss")
    accuracy_ax.set_title("Accuracy")
    fig.tight_layout()
    return fig


def confusion_matrix(counts: np.ndarray, class_names: list[str]) -> Figure:
    """counts [k, k]: row = actual class, column = predicted (as the Vega matrix shows it)."""
    k = len(class_names)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=100)
    ax.imshow(counts, cmap="Blues")
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                colour = "white" if counts[i, j] > counts.max() / 2 else "black"
                ax.text(j, i, counts[i, j], ha="center", va="center", color=colour, fontsize=8)
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("actual class")
    total = counts.sum()
    accuracy = np.trace(counts) / max(total, 1)
    ax.set_title(f"Test set confusion matrix (accuracy {accuracy:.1%}, n={total})")
    fig.tight_layout()
    return fig


def misclassified_grid(
    images: np.ndarray, actual: np.ndarray, predicted: np.ndarray, class_names: list[str]
) -> Figure:
    """images [n, 28, 28]; shows up to GRID_MAX wrong predictions as 'true → predicted', each
    numbered by its line in test.tsv (from 1), as `mnist-pipeline predict` numbers them."""
    wrong = np.flatnonzero(actual != predicted)
    shown = wrong[:GRID_MAX]
    columns = max(4, min(GRID_COLUMNS, len(shown)))  # room for the title when few are wrong
    rows = max(1, -(-len(shown) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.4, rows * 1.6 + 0.4), dpi=100)
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, index in zip(np.ravel(axes), shown, strict=False):  # more axes than images
        ax.imshow(images[index], cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(
            f"line {index + 1}\n{class_names[actual[index]]} → {class_names[predicted[index]]}",
            fontsize=7,
        )
    title = f"Misclassified test images: {len(wrong)} of {len(actual)}"
    if len(wrong) > len(shown):
        title += f" (first {len(shown)} shown)"
    fig.suptitle(title + " — true → predicted", fontsize=9)
    fig.tight_layout()
    return fig


def png_bytes(figure: Figure) -> bytes:
    """The figure as a PNG file's bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
