"""The per-epoch training history: logged live with DVCLive, read back with pandas.

DVCLive writes `<dir>/metrics.json` (the last epoch's values, a DVC metric) and one TSV file a
curve under `<dir>/plots/metrics/` (`step` then the value; here the step is the epoch), which
`dvc plots`, `dvc exp show`, the VS Code extension and DVC Studio read, during training too.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import PipelineError
from .records import read_table

CURVES = ("train/loss", "train/accuracy", "val/loss", "val/accuracy")


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    loss_sum: float  # sum of the batch-mean losses, as the reference tutorial prints it
    train_loss: float  # mean cross-entropy per image over the epoch's batches (training mode)
    train_accuracy: float  # over the epoch's batches, as they were trained on
    val_loss: float  # on the validation set after the epoch, in eval mode
    val_accuracy: float

    def curves(self) -> dict[str, float]:
        """The values logged per epoch, by DVCLive name (rounded: plain, stable numbers)."""
        values = (self.train_loss, self.train_accuracy, self.val_loss, self.val_accuracy)
        return {name: round(value, 6) for name, value in zip(CURVES, values, strict=True)}


@contextmanager
def live_log(folder: Path) -> Iterator:
    """A DVCLive logger writing into `folder`; on failure the folder is removed, so a failed
    run leaves no partial history behind."""
    from dvclive import Live  # imports DVC: only the train stage pays for it

    # No dvc.yaml, report or experiment of its own: the pipeline declares the files, and
    # `dvc exp run` makes the experiment. No timestamps, so re-runs are byte-identical.
    with removed_on_failure(folder):
        with Live(dir=str(folder), save_dvc_exp=False, dvcyaml=False, report=None) as live:
            yield live


@contextmanager
def removed_on_failure(folder: Path) -> Iterator[None]:
    """`folder` removed when the block fails in any way (Ctrl-C included): no partial history."""
    try:
        yield
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def log_epoch(live, metrics: EpochMetrics) -> None:
    live.step = metrics.epoch
    for name, value in metrics.curves().items():
        live.log_metric(name, value)
    live.next_step()


def read(folder: Path) -> pd.DataFrame:
    """DVCLive's curves under `folder` -> a table: epoch, then one column a curve.

    Raises PipelineError when a curve repeats an epoch (two writers, as when every rank of a
    distributed run logs) or the curves cover different epochs."""
    columns = {}
    for name in CURVES:
        path = Path(folder) / "plots" / "metrics" / f"{name}.tsv"
        value = name.rsplit("/", 1)[1]
        table = read_table(path, {"step": "int64", value: "float64"}, sep="\t")
        repeated = table["step"][table["step"].duplicated()]
        if len(repeated):
            raise PipelineError(f"{path}: epoch {repeated.iloc[0]} logged more than once")
        columns[name] = table.set_index("step")[value]
    history = pd.DataFrame(columns)
    if history.isna().any().any():
        raise PipelineError(f"{folder}: the curves in plots/metrics/ cover different epochs")
    return history.rename_axis("epoch").reset_index()
