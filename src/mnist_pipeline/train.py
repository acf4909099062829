"""Training: the reference recipe (SGD, cross-entropy, shuffled mini-batches) and better ones.

Fast and reproducible: the data is preloaded as one tensor and batched by seeded index
permutations (no per-item Dataset and DataLoader), the network runs in channels_last memory
format (faster on CPU: docs/performance.md), and every source of randomness is seeded.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import numerics
from .errors import PipelineError
from .evaluate import loss_and_accuracy
from .history import EpochMetrics
from .inference import autocast, predict_logits
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
    return torch.optim.SGD(  # "sgd": params.py admits no other optimizer
        model.parameters(),
        lr=params.lr,
        momentum=params.momentum,
        nesterov=params.nesterov,
        weight_decay=params.weight_decay,
    )


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


def pick_precision(params: TrainParams, device: torch.device, log: Callable[[str], None]) -> str:
    """train.precision resolved for this machine ("fp32" or "bf16"), logged with the reason;
    a warning on stderr where bf16 is asked for but would run emulated, many times slower."""
    native = numerics.native_bf16(device.type)
    precision, why = numerics.choose_precision(
        params.precision, params.numerics, device.type, native
    )
    log(f"train: precision {precision} ({why})")
    if precision == "bf16" and numerics.bf16_emulated(params.numerics, device.type, native):
        print(
            f"warning: train.precision is bf16, but {device.type} runs bf16 emulated here "
            "(no AMX or AVX512-BF16, or portable numerics): many times slower than fp32",
            file=sys.stderr,
            flush=True,
        )
    return precision


def total_steps(params: TrainParams, steps_per_epoch: int) -> int:
    """The optimizer steps of the whole run: train.epochs, which may be fractional, times the
    steps of an epoch, rounded to a whole step; the last epoch is partial where it does not
    come out whole. Raises PipelineError where that is no step at all."""
    steps = round(params.epochs * steps_per_epoch)
    if steps < 1:
        raise PipelineError(
            f"params: train.epochs: {params.epochs:g} epochs of {steps_per_epoch} batches "
            "is less than one batch"
        )
    return steps


def make_scheduler(
    optimizer: torch.optim.Optimizer, params: TrainParams, steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule over `steps` batches, stepped after every batch; None for a
    constant rate."""
    if params.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=params.lr, total_steps=steps)
    return None


def as_tensors(
    images: np.ndarray, labels: np.ndarray, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """images [n, 28, 28] uint8, labels [n] -> x [n, 1, 28, 28] channels_last, y [n] int64."""
    x = to_input(images).to(device, memory_format=torch.channels_last)
    return x, torch.from_numpy(labels.astype(np.int64)).to(device)


def train_epoch(
    model: MnistCnn,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    params: TrainParams,
    generator: torch.Generator,
    epoch: int,
    steps: int,
    progress: EpochProgress,
) -> EpochMetrics:
    """One pass over x [n, 1, 28, 28], y [n] in mini-batches shuffled by `generator`, cut
    short after `steps` batches (the last epoch of a fractional train.epochs), in the model's
    precision; the epoch's training loss and accuracy (its validation fields still zero).

    Raises PipelineError when the loss is no longer finite (a learning rate too large)."""
    model.train()
    n = len(y)
    progress.begin_epoch(epoch, steps)
    augmenting = params.augment_shift > 0 or params.augment_rotate > 0
    # The whole permutation even for a partial epoch: the random stream is that of whole ones.
    order = torch.randperm(n, generator=generator).to(x.device)
    seen = min(n, steps * params.batch_size)
    loss_sum, loss_total = 0.0, 0.0
    correct = torch.zeros((), dtype=torch.int64, device=x.device)  # summed on the device
    for first in range(0, seen, params.batch_size):
        batch = order[first : first + params.batch_size]
        inputs = augment(x[batch], params, generator) if augmenting else x[batch]
        optimizer.zero_grad()
        with autocast(model.precision, x.device):  # fp32: no autocast at all
            logits = model(inputs)  # [bs, 10]
            loss = F.cross_entropy(logits, y[batch])  # autocast computes it in fp32
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
    return EpochMetrics(epoch, loss_sum, loss_total / seen, int(correct) / seen, 0.0, 0.0)


def validate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, trained: EpochMetrics
) -> EpochMetrics:
    """The epoch's metrics with the validation loss and accuracy of `model` on x [m, 1, 28, 28],
    y [m]. Batches of 100: faster than larger ones on CPU in channels_last."""
    val_loss, val_accuracy = loss_and_accuracy(predict_logits(model, x, batch_size=100), y)
    return dataclasses.replace(trained, val_loss=val_loss, val_accuracy=val_accuracy)


class BackgroundValidation:
    """Validates each epoch on a copy of the weights in a second thread while the next epoch
    trains (at the default single training thread, the idle core does it), and hands each
    epoch's complete metrics to `progress` and `on_epoch` in epoch order.

    Validation runs in eval mode under no_grad and draws no random numbers, so training is
    bit-identical whatever the validation set."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        progress: EpochProgress,
        on_epoch: Callable[[EpochMetrics], None],
    ) -> None:
        self.x, self.y, self.progress, self.on_epoch = x, y, progress, on_epoch
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="validate")
        self.pending: Future[EpochMetrics] | None = None
        self.waited = 0.0  # seconds the training loop spent copying weights or waiting

    def submit(self, model: nn.Module, trained: EpochMetrics) -> None:
        """Validate a snapshot of `model` after the epoch `trained` describes."""
        wait_start = time.monotonic()
        self.publish_pending()
        snapshot = copy.deepcopy(model).eval()
        self.pending = self.executor.submit(validate, snapshot, self.x, self.y, trained)
        self.waited += time.monotonic() - wait_start

    def publish_pending(self) -> None:
        if self.pending is not None:
            metrics = self.pending.result()
            self.pending = None
            self.progress.epoch_validated(metrics)
            self.on_epoch(metrics)

    def finish(self) -> None:
        """Wait for the last epoch's validation and publish it."""
        wait_start = time.monotonic()
        self.publish_pending()
        self.waited += time.monotonic() - wait_start


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
    held-out val_images / val_labels after every (last: maybe partial) epoch; return it on the
    CPU in eval mode, its `precision` the one it was trained in.

    Raises PipelineError for a CUDA device that is not there, less than one batch of
    training or a diverging loss."""
    generator = seed_everything(params)
    device = pick_device(params.device)
    # torch's annotations of Module.to leave out memory_format, which it documents and takes.
    model = MnistCnn().to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    model.precision = pick_precision(params, device, progress.log)
    x, y = as_tensors(images, labels, device)
    steps_per_epoch = math.ceil(len(y) / params.batch_size)
    steps = total_steps(params, steps_per_epoch)
    optimizer = make_optimizer(model, params)
    scheduler = make_scheduler(optimizer, params, steps)
    start = time.monotonic()
    validation = BackgroundValidation(
        *as_tensors(val_images, val_labels, device), progress, on_epoch
    )
    try:
        for epoch in range(1, math.ceil(steps / steps_per_epoch) + 1):
            epoch_steps = min(steps_per_epoch, steps - (epoch - 1) * steps_per_epoch)
            trained = train_epoch(
                model, x, y, optimizer, scheduler, params, generator, epoch, epoch_steps, progress
            )
            validation.submit(model, trained)
        validation.finish()
    finally:
        validation.executor.shutdown(cancel_futures=True)
    progress.log(
        f"train: {params.epochs:g} epochs in {time.monotonic() - start:.1f} s on {device} "
        f"(of which {validation.waited:.1f} s waiting for validation)"
    )
    return model.to("cpu", memory_format=torch.contiguous_format).eval()
