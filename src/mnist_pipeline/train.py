"""Training: the reference recipe (SGD, cross-entropy, shuffled mini-batches) and better ones.

Fast and reproducible: the data is preloaded as one tensor and batched by seeded index
permutations (no per-item Dataset and DataLoader), the network runs in channels_last memory
format (faster on CPU: docs/performance.md), and every source of randomness is seeded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import assert_never

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import distributed
from .errors import PipelineError
from .evaluate import BackgroundValidation
from .history import EpochMetrics
from .inference import autocast
from .model import MnistCnn, augment, to_tensors
from .numerics import RunSettings
from .params import TrainParams
from .progress import EpochProgress


def make_optimizer(model: nn.Module, params: TrainParams) -> torch.optim.Optimizer:
    match params.optimizer:
        case "sgd":
            return torch.optim.SGD(
                model.parameters(), lr=params.lr, momentum=params.momentum,
                nesterov=params.nesterov, weight_decay=params.weight_decay,
            )  # fmt: skip
        case "adamw":
            return torch.optim.AdamW(
                model.parameters(), lr=params.lr, weight_decay=params.weight_decay
            )
        case _:
            assert_never(params.optimizer)


def make_scheduler(
    optimizer: torch.optim.Optimizer, params: TrainParams, steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule over `steps` batches, stepped after every batch."""
    match params.schedule:
        case "onecycle":
            return torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=params.lr, total_steps=steps
            )
        case "constant":  # lr times exactly 1.0: the same bits as no scheduler
            return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        case _:
            assert_never(params.schedule)


def train(
    images: np.ndarray,
    labels: np.ndarray,
    val_images: np.ndarray,
    val_labels: np.ndarray,
    num_classes: int,
    params: TrainParams,
    settings: RunSettings,
    progress: EpochProgress,
    on_epoch: Callable[[EpochMetrics], None] = lambda metrics: None,
) -> MnistCnn:
    """Train a fresh network of num_classes outputs on images [n, 28, 28] uint8 and labels [n]
    (0 to num_classes - 1) in mini-batches shuffled by a seeded generator, validating on the
    held-out val_images / val_labels after every epoch (the last one partial where
    train.epochs is fractional; evaluate.BackgroundValidation, while the next epoch trains),
    each epoch's metrics handed to `progress` and `on_epoch` as soon as it is validated.
    Returns the network on the CPU in eval mode, in the precision it was trained in.

    As one of several ranks (settings.ranks, inside distributed.process_group) it trains its
    share of every batch under DistributedDataParallel, so that the recipe (global batch,
    order, schedule) is one process's; rank 0 alone validates and calls `on_epoch`.

    Raises PipelineError for less than one batch of training or a diverging loss."""
    torch.manual_seed(params.seed)  # weight init and dropout
    generator = torch.Generator().manual_seed(params.seed)  # batch order and augmentation
    device, rank, world = settings.device, settings.ranks.rank, settings.ranks.world_size
    # torch's annotations of Module.to leave out memory_format, which it documents and takes.
    model = MnistCnn(num_classes).to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    model.precision = settings.precision
    progress.log(f"train: precision {settings.precision} ({settings.precision_reason})")
    x, y = to_tensors(images, labels, device)
    val_x, val_y = to_tensors(val_images, val_labels, device)
    n, bs = len(y), params.batch_size
    steps_per_epoch = math.ceil(n / bs)
    # train.epochs may be fractional: round(epochs * steps an epoch) steps in all.
    steps = round(params.epochs * steps_per_epoch)
    if steps < 1:
        raise PipelineError(
            f"params: train.epochs: {params.epochs:g} epochs of {steps_per_epoch} batches "
            "is less than one batch"
        )
    distributed.check_shares(n, bs, world)
    network, own = distributed.data_parallel(model, settings, params.seed, generator)
    optimizer = make_optimizer(model, params)
    scheduler = make_scheduler(optimizer, params, steps)
    augmenting = params.augment_shift > 0 or params.augment_rotate > 0

    def publish(metrics: EpochMetrics) -> None:  # an epoch's line and DVCLive step
        progress.epoch_validated(metrics)
        on_epoch(metrics)

    start = time.monotonic()
    with BackgroundValidation(val_x, val_y, publish) as validation:
        for epoch in range(1, math.ceil(steps / steps_per_epoch) + 1):
            epoch_steps = min(steps_per_epoch, steps - (epoch - 1) * steps_per_epoch)
            network.train()
            progress.begin_epoch(epoch, epoch_steps)
            # The whole permutation even for a partial epoch: its random stream is a whole one's.
            order = torch.randperm(n, generator=generator).to(device)
            seen = min(n, epoch_steps * bs)
            loss_sum, loss_total = 0.0, 0.0
            correct = torch.zeros((), dtype=torch.int64, device=device)  # summed on the device
            for first in range(0, seen, bs):
                batch = order[first : first + bs]
                shard = batch.tensor_split(world)[rank]  # this rank's part: the whole on one
                inputs = x[shard]
                if augmenting:
                    inputs = augment(inputs, params.augment_shift, params.augment_rotate, own)
                optimizer.zero_grad()
                with autocast(model.precision, device):  # fp32: no autocast at all
                    logits = network(inputs)  # [bs / world, num_classes]
                    loss = F.cross_entropy(logits, y[shard])  # autocast computes it in fp32
                # DDP averages the ranks' gradients; weighting each by its share of the batch
                # makes that the whole batch's mean gradient (a factor of exactly 1 on one rank).
                (loss * (len(shard) * world / len(batch))).backward()
                optimizer.step()
                scheduler.step()
                batch_loss = loss.item() * (len(shard) / len(batch))  # this rank's part
                loss_sum += batch_loss
                loss_total += batch_loss * len(batch)
                correct += (logits.argmax(dim=1) == y[shard]).sum()
                progress.batch_done(batch_loss * world, len(batch))
                validation.poll()  # the previous epoch's line, as soon as it is validated
            progress.epoch_trained()
            # The whole batches' figures on every rank, so that all stop together on a divergence.
            loss_sum, loss_total, right = distributed.summed([loss_sum, loss_total, int(correct)])
            if not math.isfinite(loss_sum):
                raise PipelineError(
                    f"train: diverged at epoch {epoch}: loss {loss_sum} "
                    f"(try a smaller train.lr than {params.lr})"
                )
            if rank == 0:  # one writer
                trained = EpochMetrics(epoch, loss_sum, loss_total / seen, right / seen, 0, 0)
                validation.submit(model, trained)
        validation.poll(wait=True)
    seconds, ranks = time.monotonic() - start, f" in {world} processes" if world > 1 else ""
    progress.log(f"train: {params.epochs:g} epochs in {seconds:.1f} s on {device}{ranks}")
    return model.to("cpu", memory_format=torch.contiguous_format).eval()
