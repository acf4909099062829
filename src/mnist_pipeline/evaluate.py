"""Evaluation: accuracy with a confidence interval, loss, and the design's hand-drawn digit."""

from __future__ import annotations

import copy
import dataclasses
import math
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch
from torch import nn

from .datasets import IMAGE_SIDE
from .history import EpochMetrics
from .inference import classify, predict_logits
from .model import MnistCnn

Z_95 = 1.959964  # two-sided 95 % normal quantile


def wilson_interval(correct: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval for a proportion: honest even at 96/100 or 100/100."""
    p = correct / n
    denominator = 1 + Z_95**2 / n
    centre = (p + Z_95**2 / (2 * n)) / denominator
    half = Z_95 * math.sqrt(p * (1 - p) / n + Z_95**2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def loss_and_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    """logits [n, k], targets [n] int64 -> (mean cross-entropy, accuracy as a fraction)."""
    loss = nn.functional.cross_entropy(logits, targets)
    return float(loss), float((logits.argmax(dim=1) == targets).float().mean())


class BackgroundValidation:
    """Validation of each epoch's network in a second thread while the next epoch trains: at
    the default single training thread the otherwise idle core does it, which shortens the
    shipped run by about a fifth (docs/performance.md). Each epoch's complete metrics go to
    `publish` in epoch order as soon as they are ready (`poll`, called between batches; `wait`
    at the end). Eval mode, no gradients and no random numbers: training's bits are unchanged.

    x [m, 1, 28, 28] and y [m] int64 are the validation set, on the training device."""

    def __init__(
        self, x: torch.Tensor, y: torch.Tensor, publish: Callable[[EpochMetrics], None]
    ) -> None:
        self.x, self.y, self.publish = x, y, publish
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="validate")
        self.pending: deque[Future[EpochMetrics]] = deque()

    def __enter__(self) -> BackgroundValidation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(cancel_futures=True)

    def submit(self, model: MnistCnn, trained: EpochMetrics) -> None:
        """Validate a copy of `model` as it is after the epoch that `trained` describes."""
        self.pending.append(self.pool.submit(self._validate, copy.deepcopy(model), trained))

    def poll(self, wait: bool = False) -> None:
        """Publish each validation that has finished, in order (`wait`: all of them)."""
        while self.pending and (wait or self.pending[0].done()):
            self.publish(self.pending.popleft().result())

    def _validate(self, model: MnistCnn, trained: EpochMetrics) -> EpochMetrics:
        # Batches of 100: faster than larger ones on CPU in channels_last.
        loss, accuracy = loss_and_accuracy(predict_logits(model, self.x, 100), self.y)
        return dataclasses.replace(trained, val_loss=loss, val_accuracy=accuracy)


def split_metrics(logits: torch.Tensor, labels: np.ndarray) -> dict:
    """A few headline numbers: accuracy (a fraction), its 95 % interval, mean loss, count."""
    loss, accuracy = loss_and_accuracy(logits, torch.from_numpy(labels.astype(np.int64)))
    correct = int((logits.argmax(dim=1).numpy() == labels).sum())
    low, high = wilson_interval(correct, len(labels))
    return {
        "accuracy": round(accuracy, 6),
        # Two scalars rather than a list: DVC's metrics tables show only scalars.
        "accuracy_ci95_low": round(low, 6),
        "accuracy_ci95_high": round(high, 6),
        "loss": round(loss, 6),
        "n": len(labels),
    }


def fake_image() -> np.ndarray:
    """The design's hand-drawn digit: vertical, diagonal and horizontal bars, [28, 28] uint8."""
    image = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
    image[5:23, 9] = 180  # vertical bar, rows 5..22
    for r in range(9, 19):
        image[r, r] = 250  # diagonal
    image[14, 5:15] = 200  # horizontal bar
    return image


def fake_image_prediction(model: MnistCnn, class_names: list[str]) -> dict:
    """The class the model gives the design's hand-drawn digit, with every class's probability."""
    return classify(model, fake_image()[None], class_names)[0]
