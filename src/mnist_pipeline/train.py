"""Training: the reference recipe (SGD, cross-entropy, shuffled mini-batches), made fast and
reproducible by preloading the data as tensors and batching by seeded index permutations."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .errors import PipelineError
from .model import MnistCnn, to_input
from .params import TrainParams
from .records import EpochLog


def seed_everything(params: TrainParams) -> torch.Generator:
    """Fix every source of randomness and the thread count; return the shuffling generator."""
    torch.manual_seed(params.seed)  # weight init and dropout
    torch.set_num_threads(params.threads)  # reduction order, and so the bits, depend on it
    torch.use_deterministic_algorithms(True)
    return torch.Generator().manual_seed(params.seed)


def train(
    images: np.ndarray,
    labels: np.ndarray,
    params: TrainParams,
    log: Callable[[str], None] = print,
) -> tuple[MnistCnn, list[EpochLog]]:
    """Train a fresh network on images [n, 28, 28] uint8 and labels [n]; return it and its log."""
    shuffle = seed_everything(params)
    model = MnistCnn()
    x = to_input(images)  # [n, 1, 28, 28]
    y = torch.from_numpy(labels.astype(np.int64))  # [n]
    n = len(y)
    optimizer = torch.optim.SGD(model.parameters(), lr=params.lr)
    criterion = nn.CrossEntropyLoss()
    history = []
    start = time.monotonic()
    model.train()
    for epoch in range(1, params.epochs + 1):
        order = torch.randperm(n, generator=shuffle)
        loss_sum, loss_total = 0.0, 0.0
        for first in range(0, n, params.batch_size):
            batch = order[first : first + params.batch_size]
            optimizer.zero_grad()
            loss = criterion(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            batch_loss = loss.item()
            loss_sum += batch_loss
            loss_total += batch_loss * len(batch)
        if not math.isfinite(loss_sum):
            raise PipelineError(
                f"train: diverged at epoch {epoch}: loss {loss_sum} "
                f"(try a smaller train.lr than {params.lr})"
            )
        history.append(EpochLog(epoch, loss_sum, loss_total / n))
        if epoch == 1 or epoch % params.log_every == 0 or epoch == params.epochs:
            log(
                f"epoch {epoch:>4}/{params.epochs}  loss {loss_sum:10.4f}  "
                f"per image {loss_total / n:.4f}  {time.monotonic() - start:6.1f} s"
            )
    model.eval()
    return model, history

