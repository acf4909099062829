"""The small text records that stages hand to each other: the training log, confusion pairs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import PipelineError


@dataclass(frozen=True)
class EpochLog:
    epoch: int
    loss_sum: float  # sum of the batch-mean losses, as the reference tutorial prints it
    loss_mean: float  # mean loss per image


def format_train_log(history: list[EpochLog]) -> str:
    """The per-epoch log as TSV with a header, for DVC's plots."""
    rows = ["epoch\tloss_sum\tloss_mean"]
    rows += [f"{h.epoch}\t{h.loss_sum:.6f}\t{h.loss_mean:.6f}" for h in history]
    return "\n".join(rows) + "\n"


def parse_train_log(text: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """format_train_log's text -> epochs [n], summed losses [n]."""
    rows = [line.split("\t") for line in text.splitlines()[1:] if line]
    try:
        return np.array([int(r[0]) for r in rows]), np.array([float(r[1]) for r in rows])
    except (ValueError, IndexError):
        raise PipelineError(f"{name}: not a training log written by the train stage") from None


def format_confusion(labels: np.ndarray, predicted: np.ndarray, class_names: list[str]) -> str:
    """One (actual, predicted) row per test image, in file order, for DVC's confusion template."""
    rows = ["actual,predicted"]
    rows += [f"{class_names[a]},{class_names[p]}" for a, p in zip(labels, predicted)]
    return "\n".join(rows) + "\n"


def parse_confusion(text: str, class_names: list[str], name: str) -> tuple[np.ndarray, np.ndarray]:
    """format_confusion's text -> actual [n], predicted [n] class indices."""
    index = {class_name: i for i, class_name in enumerate(class_names)}
    pairs = [line.split(",") for line in text.splitlines()[1:] if line]
    try:
        return np.array([index[a] for a, _ in pairs]), np.array([index[p] for _, p in pairs])
    except (KeyError, ValueError) as exc:
        raise PipelineError(
            f"{name}: unexpected entry {exc}: expected pairs of {', '.join(class_names)}"
        ) from None
