"""How a process computes: the run's settings (device, precision, numerics, threads), decided
once from the params and the machine, and the process configured for them before its first
float computation.

PyTorch's CPU results differ in the last bits from one CPU to another because three libraries
pick their kernels by what the CPU offers: ATen's own vectorised kernels, oneDNN (convolutions)
and MKL (matrix products). `portable` numerics cap all three to one AVX2 code path (MKL in its
COMPATIBLE mode, the one that holds across Intel and AMD), so the same params, thread count and
lock files give the same bytes on any x86-64 CPU with AVX2. `native` lets them use the fastest
kernels the CPU has (AVX-512, AMX, bf16): results then reproduce on the same kind of CPU only.
docs/reproducibility.md says where this was checked.

All three libraries read their setting when they first compute, not when torch is imported, so
`configure` works at any point before a process's first float operation: every entry point
(the train and evaluate stages, predict, serve) calls it first thing. Loading a checkpoint
computes nothing (checkpoint.load_checkpoint), and neither does `run_settings`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import assert_never

import torch

from .errors import PipelineError
from .model import Precision
from .params import DeviceChoice, Numerics, PrecisionChoice, TrainParams

PORTABLE_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",  # ATen's vectorised kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN: convolutions
    "MKL_CBWR": "COMPATIBLE",  # MKL: matrix products (its AVX2 branch differs on AMD CPUs)
}
# cuBLAS is deterministic only with a fixed workspace; it reads this when CUDA starts.
CUDA_ENV = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
# `precision: auto`: bf16 where the hardware runs bf16 matrix products natively, fp32
# elsewhere. On a CPU that is AMX (Intel, Sapphire Rapids on) or AVX512-BF16 (Intel Cooper
# Lake on, AMD Zen 4 on); without either, oneDNN emulates bf16 and autocast is many times
# slower than fp32. docs/fast.md has the measurements behind the rule.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class Ranks:
    """Where this process stands among the training processes (as torchrun numbers them)."""

    rank: int = 0  # 0 .. world_size - 1; rank 0 is the one writer
    world_size: int = 1
    local_rank: int = 0  # among the ranks on this machine: its GPU index on CUDA


def ranks(environ: Mapping[str, str], processes: int) -> Ranks:
    """This process's ranks from the launcher's RANK, WORLD_SIZE and LOCAL_RANK (a single
    process when they are unset). Raises PipelineError when the launcher started a different
    number of ranks than train.processes: the process count is part of the recipe."""
    if "RANK" not in environ or "WORLD_SIZE" not in environ:
        return Ranks()
    world_size = int(environ["WORLD_SIZE"])
    if world_size != processes:
        raise PipelineError(
            f"params: train.processes: {processes}, but the launcher started {world_size} ranks"
        )
    return Ranks(int(environ["RANK"]), world_size, int(environ.get("LOCAL_RANK", "0")))


def rank_device(device: torch.device, local_rank: int, gpus: int) -> torch.device:
    """The device of the rank `local_rank` on this machine: its own GPU (cuda:LOCAL_RANK) on
    CUDA, the CPU otherwise. Raises PipelineError when the machine has no GPU for it."""
    if device.type != "cuda":
        return device
    if local_rank >= gpus:
        raise PipelineError(
            f"params: train.processes: CUDA needs a GPU per rank on a machine; local rank "
            f"{local_rank} has none ({gpus} GPU{'s' if gpus != 1 else ''})"
        )
    return torch.device("cuda", local_rank)


@dataclass(frozen=True)
class RunSettings:
    """How a training run computes, decided once (run_settings); the training loop reads it."""

    device: torch.device
    precision: Precision
    # Why that precision, for the log: "auto: this CPU runs bf16 natively", or a warning.
    precision_reason: str
    numerics: Numerics
    threads: int  # per process
    ranks: Ranks = Ranks()  # one process unless a launcher started this one as a rank


def run_settings(params: TrainParams, environ: Mapping[str, str] = os.environ) -> RunSettings:
    """train.device, train.precision, train.numerics, train.threads and this process's ranks
    (from a launcher's variables in `environ`) resolved for this machine. Computes nothing, so
    it may come before or after `configure`.

    Raises PipelineError for a CUDA device asked for that is not there (a GPU per rank), or a
    launcher that started another number of ranks than train.processes."""
    placed = ranks(environ, params.processes)
    device = pick_device(params.device)
    if placed.world_size > 1:
        device = rank_device(device, placed.local_rank, torch.cuda.device_count())
    native = native_bf16(device)
    precision, reason = choose_precision(params.precision, params.numerics, device.type, native)
    if precision == "bf16" and bf16_emulated(params.numerics, device.type, native):
        reason += (
            f"; warning: this {device.type.upper()} runs bf16 emulated (no AMX or AVX512-BF16, "
            "or portable numerics), many times slower than fp32"
        )
    return RunSettings(device, precision, reason, params.numerics, params.threads, placed)


def configure(numerics: Numerics, threads: int) -> None:
    """Fix the process's numerics, thread count and deterministic algorithms, once, before its
    first float computation.

    Raises RuntimeError if torch already computed with uncapped kernels (a programming error:
    the setting would silently not apply; only a CPU with AVX-512 can tell).
    """
    match numerics:
        case "portable":
            os.environ.update(PORTABLE_ENV)
        case "native":  # whatever the CPU offers, even if the user's shell caps it
            for name in PORTABLE_ENV:
                os.environ.pop(name, None)
        case _:
            assert_never(numerics)
    for name, value in CUDA_ENV.items():
        os.environ.setdefault(name, value)
    torch.set_num_threads(threads)  # the reduction order, and so the bits, depend on it
    torch.use_deterministic_algorithms(True)
    capability = torch.backends.cpu.get_cpu_capability()
    if numerics == "portable" and capability.startswith("AVX512"):
        raise RuntimeError("numerics.configure called after torch first computed")
    if numerics == "portable" and capability != "AVX2":
        print(
            f"note: train.numerics is portable, but this CPU's kernels are {capability}, not "
            "AVX2: results may differ in the last bits from those of x86-64 CPUs with AVX2",
            file=sys.stderr,
        )


def pick_device(choice: DeviceChoice) -> torch.device:
    """train.device for this machine; PipelineError for "cuda" where there is none."""
    match choice:
        case "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        case "cuda":
            if not torch.cuda.is_available():
                raise PipelineError(
                    "params: train.device: 'cuda' requested, but no CUDA device is available"
                )
            return torch.device("cuda")
        case "cpu":
            return torch.device("cpu")
        case _:
            assert_never(choice)


def cpu_flags() -> set[str]:
    """The CPU's bf16 features, named as Linux's /proc/cpuinfo names them.

    Asked of torch (torch.cpu's private _is_* helpers), not read from /proc/cpuinfo: they
    come from the cpuinfo library that oneDNN's own kernel choice trusts, and work on every
    OS. Should a torch release drop them, the features read as absent (fp32: slower, still
    right); tests/test_numerics.py checks they exist in the pinned torch."""
    checks = {"amx_bf16": "_is_amx_tile_supported", "avx512_bf16": "_is_avx512_bf16_supported"}
    return {flag for flag, name in checks.items() if getattr(torch.cpu, name, lambda: False)()}


def native_bf16(device: torch.device) -> bool:
    """Whether `device` runs bf16 natively: on a CPU, any of BF16_CPU_FLAGS; on CUDA,
    torch.cuda.is_bf16_supported()."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(cpu_flags() & set(BF16_CPU_FLAGS))


def choose_precision(
    precision: PrecisionChoice, numerics: Numerics, device_type: str, native_bf16: bool
) -> tuple[Precision, str]:
    """train.precision resolved for the machine: (precision, why).

    A fixed rule from the hardware's features, never a timing (which would make the choice,
    and so the results, vary from run to run)."""
    match precision:
        case "fp32" | "bf16":
            return precision, "train.precision"
        case "auto":
            if device_type == "cpu" and numerics == "portable":
                # The portable caps limit oneDNN to AVX2, which has no bf16 instructions.
                return "fp32", "auto: portable numerics compute in fp32"
            if native_bf16:
                return "bf16", f"auto: this {device_type.upper()} runs bf16 natively"
            return "fp32", f"auto: this {device_type.upper()} has no native bf16"
        case _:
            assert_never(precision)


def bf16_emulated(numerics: Numerics, device_type: str, native_bf16: bool) -> bool:
    """Whether bf16 would run emulated: no native bf16, or a CPU capped to AVX2 (portable)."""
    return not native_bf16 or (device_type == "cpu" and numerics == "portable")
