"""Evaluation: accuracy with a confidence interval, loss, per-class accuracy, the fake image."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .model import fake_image, to_input

Z_95 = 1.959964  # two-sided 95 % normal quantile


@torch.no_grad()
def predict_logits(model: nn.Module, images: np.ndarray, batch_size: int = 1000) -> torch.Tensor:
    """images [n, 28, 28] uint8 -> logits [n, 10], in eval mode (no dropout)."""
    model.eval()
    parts = [model(to_input(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    return torch.cat(parts) if parts else torch.empty(0, 10)


def wilson_interval(correct: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval for a proportion: honest even at 96/100 or 100/100."""
    p = correct / n
    denominator = 1 + Z_95**2 / n
    centre = (p + Z_95**2 / (2 * n)) / denominator
    half = Z_95 * math.sqrt(p * (1 - p) / n + Z_95**2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def split_metrics(logits: torch.Tensor, labels: np.ndarray, class_names: list[str]) -> dict:
    """Accuracy (a fraction), its 95 % interval, mean cross-entropy and per-class accuracy."""
    targets = torch.from_numpy(labels.astype(np.int64))
    predicted = logits.argmax(dim=1).numpy()
    correct = predicted == labels
    low, high = wilson_interval(int(correct.sum()), len(labels))
    per_class = {
        name: round(float(correct[labels == c].mean()), 6)
        for c, name in enumerate(class_names)
        if np.any(labels == c)
    }
    return {
        "accuracy": round(float(correct.mean()), 6),
        # Two scalars rather than a list: DVC's metrics tables show only scalars.
        "accuracy_ci95_low": round(low, 6),
        "accuracy_ci95_high": round(high, 6),
        "loss": round(float(nn.functional.cross_entropy(logits, targets)), 6),
        "n": len(labels),
        "per_class_accuracy": per_class,
    }


def fake_image_prediction(model: nn.Module, class_names: list[str]) -> dict:
    """The class the model gives the design's hand-drawn digit, with all ten probabilities."""
    probabilities = torch.softmax(predict_logits(model, fake_image()[None]), dim=1)[0]
    return {
        "predicted": class_names[int(probabilities.argmax())],
        "probabilities": {name: round(float(p), 6) for name, p in zip(class_names, probabilities)},
    }
