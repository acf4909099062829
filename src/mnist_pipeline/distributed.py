"""Training on several processes with torch.distributed: the ranks a process belongs to, their
process group, and the train stage's own launch of `train.processes` ranks through torch's
launcher API (what `torchrun` runs). docs/scale.md says how to use it.

One process (`train.processes: 1`) never comes here: no launcher, no process group.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta

import numpy as np
import torch
from torch import nn

from .errors import PipelineError
from .numerics import Ranks, RunSettings, pick_device, rank_device
from .params import TrainParams

# How long a rank waits in a collective (a gradient all-reduce, the wait while rank 0
# validates) for the others before it fails. torch's defaults are 30 minutes on gloo and 10 on
# NCCL; a hung or lost rank should end the job long before that, and rank 0's longest step
# (validating 10,000 images) takes seconds.
COLLECTIVE_TIMEOUT = timedelta(minutes=5)


def should_launch(environ: Mapping[str, str], processes: int) -> bool:
    """Whether the train stage starts the ranks itself: more than one process, and no
    launcher (torchrun) has started this one as a rank."""
    return processes > 1 and "RANK" not in environ


def backend(device: torch.device) -> str:
    """The collective backend for `device`: NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if device.type == "cuda" else "gloo"


@contextmanager
def process_group(ranks: Ranks, device: torch.device) -> Iterator[None]:
    """The default process group of the ranks for the time of the block (nothing for one
    process); it reads the rendezvous address from the launcher's environment."""
    if ranks.world_size == 1:
        yield
        return
    import torch.distributed as dist

    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend(device), rank=ranks.rank, world_size=ranks.world_size, timeout=COLLECTIVE_TIMEOUT
    )
    try:
        yield
    finally:
        dist.destroy_process_group()


@contextmanager
def errors_to_launcher(environ: Mapping[str, str]) -> Iterator[None]:
    """In a rank a launcher started: an exception is written to the launcher's error file
    (TORCHELASTIC_ERROR_FILE), which reports it, and the rank exits 1 without a traceback.
    Elsewhere the exception goes on as usual."""
    try:
        yield
    except Exception as exc:
        if "TORCHELASTIC_ERROR_FILE" not in environ:
            raise
        from torch.distributed.elastic.multiprocessing.errors import ErrorHandler

        ErrorHandler().record_exception(exc)
        sys.exit(1)


def launch(params: TrainParams, command: Sequence[str]) -> None:
    """Run `command` (a Python script and its arguments) as train.processes ranks on this
    machine through torch's launcher (torchrun's standalone mode), and wait for them all.

    Raises PipelineError before starting anything when CUDA has not a GPU for every rank, and
    after, naming the first rank that failed and its error (the launcher then stops the others
    at once: no restarts)."""
    processes = params.processes
    rank_device(pick_device(params.device), processes - 1, torch.cuda.device_count())
    # The launcher logs each step of a failure over several lines; the error below says it once.
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    with tempfile.TemporaryDirectory(prefix="mnist-pipeline-ranks-") as logs:
        config = LaunchConfig(
            min_nodes=1, max_nodes=1, nproc_per_node=processes, run_id=str(uuid.uuid4()),
            # torchrun --standalone: a rendezvous store of its own on a free local port
            rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
            # The ranks' error files go here; their output stays on this terminal.
            logs_specs=DefaultLogsSpecs(log_dir=logs),
        )  # fmt: skip
        try:
            elastic_launch(config, sys.executable)(*command)
        except ChildFailedError as failed:
            rank, failure = min(failed.failures.items(), key=lambda item: when(item[1]))
            message = failure.message
            if isinstance(message, dict):  # as ErrorHandler records it: "Type: text"
                message = message.get("message", "")
            message = str(message).removeprefix(f"{PipelineError.__name__}: ")
            raise PipelineError(
                f"train: rank {rank} of {processes} failed (exit {failure.exitcode}): {message}"
            ) from None


def when(failure) -> float:
    """When a rank failed, in seconds: its error file's time, to the nanosecond (the others fail
    after it, within the same second, when their peer goes), else the launcher's whole second."""
    try:
        return os.stat(failure.error_file).st_mtime_ns / 1e9
    except (OSError, TypeError):
        return float(failure.timestamp)


def data_parallel(
    model: nn.Module, settings: RunSettings, seed: int, generator: torch.Generator
) -> tuple[nn.Module, torch.Generator]:
    """What a rank trains, and the generator of its own images' augmentation: on one process,
    the model and the run's generator; on several, the model under DistributedDataParallel
    (which averages the ranks' gradients) and a generator of the rank's own, with a torch
    seed of its own for dropout (the same seed would give every rank the same masks)."""
    if settings.ranks.world_size == 1:
        return model, generator
    from torch.nn.parallel import DistributedDataParallel

    device = settings.device
    ids = [device] if device.type == "cuda" else None
    network = DistributedDataParallel(model, device_ids=ids)  # rank 0's initial weights
    own = int(np.random.SeedSequence([seed, settings.ranks.rank]).generate_state(1, np.uint64)[0])
    torch.manual_seed(own >> 1)  # torch takes seeds below 2**63
    return network, torch.Generator().manual_seed(own >> 1)


def check_shares(images: int, batch_size: int, world_size: int) -> None:
    """PipelineError where the last batch of an epoch is too small to give every rank an image."""
    if 0 < images % batch_size < world_size:
        raise PipelineError(
            f"params: train.processes: {world_size} ranks cannot share the last batch of "
            f"{images % batch_size} images ({images} images in batches of {batch_size})"
        )


def summed(values: list) -> list:
    """Each number summed over all ranks (one all-reduce, in float64); as they are on one."""
    import torch.distributed as dist

    if not dist.is_initialized():
        return values
    totals = torch.tensor(values, dtype=torch.float64, device=_collective_device())
    dist.all_reduce(totals)
    return totals.tolist()


def _collective_device() -> torch.device:
    """Where NCCL's collectives need their tensors: this rank's GPU (gloo takes the CPU)."""
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
