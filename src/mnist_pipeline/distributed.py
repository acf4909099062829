"""Training on several processes with torch.distributed: the ranks a process belongs to, their
process group, and the train stage's own launch of `train.processes` ranks through torch's
launcher API (what `torchrun` runs), on this machine or as node 0 of several. docs/scale.md
says how to use it.

One process (`train.processes: 1`) never comes here: no launcher, no process group.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Nodes:
    """The machines a launch spans, as torchrun's static rendezvous names them."""

    count: int = 1  # --nnodes
    rank: int = 0  # --node-rank: node 0 hosts the rendezvous and holds rank 0, the writer
    master: str = ""  # --master-addr:--master-port, node 0's address; "" on one machine


def nodes(environ: Mapping[str, str], processes: int) -> Nodes:
    """The machines of this launch from the variables torchrun itself reads for its options
    (PET_NNODES, PET_NODE_RANK, PET_MASTER_ADDR, PET_MASTER_PORT; the port defaults to
    torchrun's 29500): one machine when PET_NNODES is unset or 1.

    Raises PipelineError when they are not whole numbers, the node rank is out of range, node
    0's address is missing, or train.processes does not spread evenly over the nodes."""
    try:
        count = int(environ.get("PET_NNODES", "1"))
        rank = int(environ.get("PET_NODE_RANK", "0"))
        port = int(environ.get("PET_MASTER_PORT", "29500"))
    except ValueError as exc:
        raise PipelineError(f"train: PET_NNODES, PET_NODE_RANK, PET_MASTER_PORT: {exc}") from None
    if count < 1 or not 0 <= rank < count:
        raise PipelineError(f"train: PET_NODE_RANK={rank} is not a node of PET_NNODES={count}")
    if count == 1:
        return Nodes()
    if processes % count:
        raise PipelineError(
            f"params: train.processes: {processes} ranks do not spread evenly over "
            f"PET_NNODES={count} nodes"
        )
    if not environ.get("PET_MASTER_ADDR"):
        raise PipelineError(f"train: PET_NNODES={count} needs PET_MASTER_ADDR, node 0's address")
    return Nodes(count, rank, f"{environ['PET_MASTER_ADDR']}:{port}")


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
    (TORCHELASTIC_ERROR_FILE), which reports it, and the rank exits 1 without a traceback;
    Ctrl-C, which the launcher passes on to its ranks, ends it with 130 and says nothing (the
    launcher says it once). Elsewhere the exception goes on as usual."""
    try:
        yield
    except KeyboardInterrupt:
        if "TORCHELASTIC_ERROR_FILE" not in environ:
            raise
        sys.exit(130)
    except Exception as exc:
        if "TORCHELASTIC_ERROR_FILE" not in environ:
            raise
        from torch.distributed.elastic.multiprocessing.errors import ErrorHandler

        ErrorHandler().record_exception(exc)
        sys.exit(1)


def launch(params: TrainParams, command: Sequence[str], machines: Nodes = Nodes()) -> None:
    """Run `command` (a Python script and its arguments) as train.processes ranks through
    torch's launcher, and wait for them all: on this machine alone (torchrun's standalone
    mode), or as node `machines.rank` of `machines.count` (torchrun's static rendezvous; the
    ranks are spread evenly over the nodes).

    Raises PipelineError before starting anything when CUDA has not a GPU for every rank of
    this machine, and after, naming the first rank that failed and its error (the launcher then
    stops the others at once: no restarts); KeyboardInterrupt when the launcher got SIGINT
    (its ranks stopped)."""
    processes, per_node = params.processes, params.processes // machines.count
    rank_device(pick_device(params.device), per_node - 1, torch.cuda.device_count())
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # The launcher logs each step of a failure over several lines; the error below says it
    # once. Each of its modules' loggers has a level of its own (torch sets it at import).
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)

    alone = machines.count == 1
    with tempfile.TemporaryDirectory(prefix="mnist-pipeline-ranks-") as logs:
        config = LaunchConfig(
            min_nodes=machines.count, max_nodes=machines.count, nproc_per_node=per_node,
            max_restarts=0,
            # Alone, torchrun --standalone: a rendezvous of its own on a free local port. Else
            # torchrun's static rendezvous at node 0, under torchrun's default --rdzv-id, so
            # that the other nodes' plain torchrun meets it.
            run_id=str(uuid.uuid4()) if alone else "none",
            rdzv_backend="c10d" if alone else "static",
            rdzv_endpoint="localhost:0" if alone else machines.master,
            rdzv_configs={} if alone else {"rank": machines.rank},
            # The ranks' error files go here; their output stays on this terminal.
            logs_specs=DefaultLogsSpecs(log_dir=logs),
        )  # fmt: skip
        try:
            elastic_launch(config, sys.executable)(*command)
        except SignalException as stopped:  # the launcher has stopped its ranks
            if stopped.sigval == signal.SIGINT:
                raise KeyboardInterrupt from None
            raise PipelineError(f"train: stopped by {stopped.sigval.name}") from None
        except ChildFailedError as failed:
            rank, failure = min(failed.failures.items(), key=lambda item: cause_first(item[1]))
            message = failure.message
            if isinstance(message, dict):  # as ErrorHandler records it: "Type: text"
                message = message.get("message", "")
            message = str(message).removeprefix(f"{PipelineError.__name__}: ")
            raise PipelineError(
                f"train: rank {rank} of {processes} failed (exit {failure.exitcode}): {message}"
            ) from None


def cause_first(failure) -> tuple[int, float]:
    """Orders failed ranks cause first: one killed by a signal (SIGKILL, SIGSEGV: its peers fail
    on losing it), then those that raised, then those the launcher stopped (SIGTERM); each by
    when it failed, in seconds: its error file's time, to the nanosecond (the others fail after
    it, within the same second, when their peer goes), else the launcher's whole second."""
    try:
        time = os.stat(failure.error_file).st_mtime_ns / 1e9
    except (OSError, TypeError):
        time = float(failure.timestamp)
    stopped = failure.exitcode == -signal.SIGTERM
    return (2 if stopped else 1 if failure.exitcode >= 0 else 0), time


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
