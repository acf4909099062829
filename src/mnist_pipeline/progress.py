"""Training progress: on a terminal a live bar per epoch, and in every case one plain line per
logged epoch (the first, every `log_every`-th and the last), never a line per batch."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from .history import EpochMetrics

if TYPE_CHECKING:  # imported when a bar is shown: a log file needs no tqdm
    from tqdm import tqdm


def describe(m: EpochMetrics) -> str:
    return (
        f"loss {m.loss_sum:10.4f}  per image {m.train_loss:.4f}  train acc {m.train_accuracy:.4f}  "
        f"val loss {m.val_loss:.4f}  val acc {m.val_accuracy:.4f}"
    )


def terminal() -> TextIO | None:
    """Where a live bar can go: stderr when it is a terminal, else None (plain lines only)."""
    return sys.stderr if sys.stderr.isatty() else None


class EpochProgress:
    """Lines go to `log`; with `bar_stream`, a tqdm bar shows the epoch being trained, its
    running loss and the latest validation accuracy."""

    def __init__(
        self, epochs: float, log_every: int, log: Callable[[str], None], bar_stream: TextIO | None
    ) -> None:
        # train.epochs may be fractional: 1.5 is two epochs, the second partial ("2/2").
        self.epochs, self.log_every, self.log = math.ceil(epochs), log_every, log
        self.stream = bar_stream
        self.start: float | None = None  # at the first epoch, not while DVCLive starts
        self.bar: tqdm | None = None
        self.val_accuracy: float | None = None
        self.loss_total, self.images = 0.0, 0

    def logged(self, epoch: int) -> bool:
        return epoch == 1 or epoch % self.log_every == 0 or epoch == self.epochs

    def begin_epoch(self, epoch: int, batches: int) -> None:
        if self.start is None:
            self.start = time.monotonic()
        self.loss_total, self.images = 0.0, 0
        if self.stream is not None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=batches, desc=f"epoch {epoch}/{self.epochs}", unit="batch", leave=False,
                file=self.stream, dynamic_ncols=True,
            )  # fmt: skip

    def batch_done(self, loss: float, images: int) -> None:
        if self.bar is not None:
            self.loss_total += loss * images
            self.images += images
            val = "" if self.val_accuracy is None else f", val acc {self.val_accuracy:.4f}"
            self.bar.set_postfix_str(f"loss {self.loss_total / self.images:.4f}{val}", False)
            self.bar.update()

    def epoch_trained(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def epoch_validated(self, metrics: EpochMetrics) -> None:
        """An epoch's complete metrics: its line shows if it is logged, above a running bar."""
        self.val_accuracy = metrics.val_accuracy
        if self.logged(metrics.epoch):
            elapsed = time.monotonic() - (self.start or time.monotonic())
            line = f"epoch {metrics.epoch:>4}/{self.epochs}  {describe(metrics)}  {elapsed:6.1f} s"
            if self.stream is not None:
                from tqdm import tqdm

                tqdm.write(line, file=self.stream)  # above the running bar, which stays last
            else:
                self.log(line)
