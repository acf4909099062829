"""Matplotlib figures of a run: loss curve, confusion matrix, misclassified test images."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only, no display; before pyplot is imported

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

GRID_COLUMNS = 8
GRID_MAX = 32  # the first misclassified images shown


def loss_curve(epochs: np.ndarray, loss_sum: np.ndarray) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(epochs, loss_sum, marker="o", markersize=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (sum of batch losses)")
    ax.set_title("Training loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def confusion_matrix(actual: np.ndarray, predicted: np.ndarray, class_names: list[str]) -> Figure:
    """actual, predicted: [n] class indices."""
    k = len(class_names)
    counts = np.zeros((k, k), dtype=int)
    np.add.at(counts, (actual, predicted), 1)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=100)
    ax.imshow(counts, cmap="Blues")
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                colour = "white" if counts[i, j] > counts.max() / 2 else "black"
                ax.text(j, i, counts[i, j], ha="center", va="center", color=colour, fontsize=8)
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    accuracy = np.trace(counts) / max(len(actual), 1)
    ax.set_title(f"Test set confusion matrix (accuracy {accuracy:.1%}, n={len(actual)})")
    fig.tight_layout()
    return fig


def misclassified_grid(
    images: np.ndarray, actual: np.ndarray, predicted: np.ndarray, class_names: list[str]
) -> Figure:
    """images [n, 28, 28]; shows up to GRID_MAX wrong predictions as 'true → predicted'."""
    wrong = np.flatnonzero(actual != predicted)
    shown = wrong[:GRID_MAX]
    columns = max(4, min(GRID_COLUMNS, len(shown)))  # room for the title when few are wrong
    rows = max(1, -(-len(shown) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.4, rows * 1.6 + 0.4), dpi=100)
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, index in zip(np.ravel(axes), shown):
        ax.imshow(images[index], cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(
            f"#{index}\n{class_names[actual[index]]} → {class_names[predicted[index]]}", fontsize=7
        )
    title = f"Misclassified test images: {len(wrong)} of {len(actual)}"
    if len(wrong) > len(shown):
        title += f" (first {len(shown)} shown)"
    fig.suptitle(title + " — true → predicted", fontsize=9)
    fig.tight_layout()
    return fig
