"""Training: the reference recipe (SGD, cross-entropy, shuffled mini-batches) and better ones.

Fast and reproducible: the data is preloaded as one tensor and batched by seeded index
permutations (no per-item Dataset and DataLoader), the network runs in channels_last memory
format (faster on CPU: docs/performance.md), and every source of randomness is seeded.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import numerics
from .errors import PipelineError
from .evaluate import loss_and_accuracy
from .history import EpochMetrics
from .inference import predict_logits
from .model import MnistCnn, to_input
from .params import TrainParams
from .progress import EpochProgress


def seed_everything(params: TrainParams) -> torch.Generator:
    """Fix the numerics, the thread count and every source of randomness; return the data
    generator."""
    numerics.configure(params.numerics, params.threads)
    torch.manual_seed(params.seed)  # weight init and dropout
    return torch.Generator().manual_seed(params.seed)


def pick_device(choice: str) -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise PipelineError(
            "params: train.device: 'cuda' requested, but no CUDA device is available"
        )
    return torch.device(choice)


def make_optimizer(model: nn.Module, params: TrainParams) -> torch.optim.Optimizer:
    if params.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    if params.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=params.lr,
            momentum=params.momentum,
            nesterov=params.nesterov,
            weight_decay=params.weight_decay,
        )
    raise PipelineError(f"params: train.optimizer: unknown optimizer {params.optimizer!r}")


def augment(x: torch.Tensor, params: TrainParams, generator: torch.Generator) -> torch.Tensor:
    """Random shifts and rotations of a batch x [bs, 1, 28, 28], drawn from `generator`."""
    bs = len(x)
    angle = (torch.rand(bs, generator=generator) * 2 - 1) * math.radians(params.augment_rotate)
    # affine_grid works in [-1, 1] coordinates: one pixel is 2/28.
    shift = (torch.rand(bs, 2, generator=generator) * 2 - 1) * params.augment_shift * 2 / 28
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    ).to(x.device)  # [bs, 2, 3]
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # [bs, 28, 28, 2]
    return F.grid_sample(x, grid, align_corners=False)  # [bs, 1, 28, 28]


def validate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, trained: EpochMetrics
) -> EpochMetrics:
    """The epoch's metrics with the validation loss and accuracy of `model` on x [m, 1, 28, 28],
    y [m]. Batches of 100: faster than larger ones on CPU in channels_last."""
    val_loss, val_accuracy = loss_and_accuracy(predict_logits(model, x, batch_size=100), y)
    return dataclasses.replace(trained, val_loss=val_loss, val_accuracy=val_accuracy)


def report(
    metrics: EpochMetrics, progress: EpochProgress, on_epoch: Callable[[EpochMetrics], None]
) -> None:
    progress.epoch_validated(metrics)
    on_epoch(metrics)


def train(
    images: np.ndarray,
    labels: np.ndarray,
    val_images: np.ndarray,
    val_labels: np.ndarray,
    params: TrainParams,
    progress: EpochProgress,
    on_epoch: Callable[[EpochMetrics], None] = lambda metrics: None,
) -> MnistCnn:
    """Train a fresh network on images [n, 28, 28] uint8 and labels [n], validating on the
    held-out val_images / val_labels after every epoch; return it on the CPU in eval mode.

    Validation runs on a copy of the weights, in eval mode under no_grad, and draws no random
    numbers, so training is bit-identical whatever the validation set."""
    generator = seed_everything(params)
    device = pick_device(params.device)
    # torch's annotations of Module.to leave out memory_format, which it documents and takes.
    model = MnistCnn().to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    x = to_input(images).to(device, memory_format=torch.channels_last)  # [n, 1, 28, 28]
    y = torch.from_numpy(labels.astype(np.int64)).to(device)  # [n]
    val_x = to_input(val_images).to(device, memory_format=torch.channels_last)  # [m, 1, 28, 28]
    val_y = torch.from_numpy(val_labels.astype(np.int64)).to(device)  # [m]
    n = len(y)
    steps_per_epoch = math.ceil(n / params.batch_size)
    optimizer = make_optimizer(model, params)
    scheduler = None
    if params.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=params.lr, total_steps=params.epochs * steps_per_epoch
        )
    augmenting = params.augment_shift > 0 or params.augment_rotate > 0
    start = time.monotonic()
    waited = 0.0  # seconds the training loop spent on validation (copying, waiting)
    # Each epoch is validated on a copy of the weights in a second thread, while the next
    # epoch trains: at the default single training thread the validation uses the idle core.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="validate") as validator:
        pending = None
        for epoch in range(1, params.epochs + 1):
            model.train()
            progress.begin_epoch(epoch, steps_per_epoch)
            order = torch.randperm(n, generator=generator).to(device)
            loss_sum, loss_total = 0.0, 0.0
            correct = torch.zeros((), dtype=torch.int64, device=device)
            for first in range(0, n, params.batch_size):
                batch = order[first : first + params.batch_size]
                inputs = augment(x[batch], params, generator) if augmenting else x[batch]
                optimizer.zero_grad()
                logits = model(inputs)  # [bs, 10]
                loss = F.cross_entropy(logits, y[batch])
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                batch_loss = loss.item()
                loss_sum += batch_loss
                loss_total += batch_loss * len(batch)
                correct += (logits.argmax(dim=1) == y[batch]).sum()
                progress.batch_done(batch_loss, len(batch))
            progress.epoch_trained()
            if not math.isfinite(loss_sum):
                raise PipelineError(
                    f"train: diverged at epoch {epoch}: loss {loss_sum} "
                    f"(try a smaller train.lr than {params.lr})"
                )
            wait_start = time.monotonic()
            if pending is not None:
                report(pending.result(), progress, on_epoch)
            snapshot = copy.deepcopy(model).eval()
            trained = EpochMetrics(epoch, loss_sum, loss_total / n, int(correct) / n, 0.0, 0.0)
            pending = validator.submit(validate, snapshot, val_x, val_y, trained)
            waited += time.monotonic() - wait_start
        wait_start = time.monotonic()
        # train.epochs is at least 1 (params), so the loop left a validation pending.
        report(pending.result(), progress, on_epoch)  # type: ignore[union-attr]
        waited += time.monotonic() - wait_start
    elapsed = time.monotonic() - start
    progress.log(
        f"train: {params.epochs} epochs in {elapsed:.1f} s on {device} "
        f"(of which {waited:.1f} s waiting for validation)"
    )
    model = model.to("cpu", memory_format=torch.contiguous_format)
    model.eval()
    return model
