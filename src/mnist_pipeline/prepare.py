"""Choose the subsets of a split that the prepare stage writes."""

from __future__ import annotations

from typing import assert_never

import numpy as np

from .errors import PipelineError
from .params import Selection


def hold_out(
    labels: np.ndarray, n_train: int, n_val: int, selection: Selection, seed: int, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (training subset [n_train], validation set [n_val]) into the training split,
    whose labels run 0 to num_classes - 1.

    The validation set is the split's last n_val images, the same whatever the selection; the
    training subset is chosen from the images before them, so the two never overlap.
    """
    if n_train + n_val > len(labels):
        raise PipelineError(
            f"params: prepare.n_train + prepare.n_val: {n_train} + {n_val} = {n_train + n_val}, "
            f"but the training split holds {len(labels)}"
        )
    rest = len(labels) - n_val
    chosen = select(labels[:rest], n_train, selection, seed, num_classes, "prepare.n_train")
    return chosen, np.arange(rest, len(labels))


def select(
    labels: np.ndarray, n: int, selection: Selection, seed: int, num_classes: int, key: str
) -> np.ndarray:
    """Indices [n] into a split with `labels` (0 to num_classes - 1), in ascending order so
    files keep the split's order.

    first: the first n; random: a seeded sample; stratified: n / num_classes of each class,
    seeded.
    `key` names the param that set n, for error messages.
    """
    if n > len(labels):
        raise PipelineError(f"params: {key}: {n} requested, but the split holds {len(labels)}")
    rng = np.random.default_rng(seed)
    match selection:
        case "first":
            return np.arange(n)
        case "random":
            return np.sort(rng.choice(len(labels), size=n, replace=False))
        case "stratified":
            return _stratified(labels, n, num_classes, rng, key)
        case _:
            assert_never(selection)


def _stratified(
    labels: np.ndarray, n: int, num_classes: int, rng: np.random.Generator, key: str
) -> np.ndarray:
    if n % num_classes:
        raise PipelineError(
            f"params: {key}: {n} is not a multiple of {num_classes}, the data set's class "
            "count, as prepare.selection 'stratified' needs"
        )
    per_class = n // num_classes
    chosen = []
    for label in range(num_classes):
        members = np.flatnonzero(labels == label)
        if len(members) < per_class:
            raise PipelineError(
                f"params: {key}: {per_class} images of class {label} requested, "
                f"but the split holds {len(members)}"
            )
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))
