"""The numerics switch (`train.numerics`): which CPU kernels PyTorch may use, and how many
threads, fixed before the first float computation of a process.

PyTorch's CPU results differ in the last bits from one CPU to another because three libraries
pick their kernels by what the CPU offers: ATen's own vectorised kernels, oneDNN (convolutions)
and MKL (matrix products). `portable` caps all three to one AVX2 code path (MKL in its
COMPATIBLE mode, the one that holds across Intel and AMD), so the same params, thread count and
lock files give the same bytes on any x86-64 CPU with AVX2. `native` lets them use the fastest
kernels the CPU has (AVX-512, AMX, bf16): results then reproduce on the same kind of CPU only.
docs/reproducibility.md says where this was checked.

All three libraries read their setting when they first compute, not when torch is imported, so
`configure` works at any point before a process's first float operation (loading a checkpoint
with torch.load computes nothing).
"""

from __future__ import annotations

import os
import sys

PORTABLE_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",  # ATen's vectorised kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN: convolutions
    "MKL_CBWR": "COMPATIBLE",  # MKL: matrix products (its AVX2 branch differs on AMD CPUs)
}
# cuBLAS is deterministic only with a fixed workspace; it reads this when CUDA starts.
CUDA_ENV = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}


def configure(numerics: str, threads: int) -> None:
    """Fix the process's numerics ("portable" or "native"), thread count and deterministic
    algorithms.

    Call it before the process's first float computation; the stage scripts call it right after
    reading their params (train) or the checkpoint (evaluate, predict, serve).

    Raises RuntimeError if torch already computed with uncapped kernels (a programming error:
    the setting would silently not apply).
    """
    if numerics == "portable":
        os.environ.update(PORTABLE_ENV)
    else:  # native: whatever the CPU offers, even if the user's shell caps it
        for name in PORTABLE_ENV:
            os.environ.pop(name, None)
    for name, value in CUDA_ENV.items():
        os.environ.setdefault(name, value)

    import torch

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


# `train.precision: auto`: bf16 where the hardware runs bf16 matrix products natively, fp32
# elsewhere. On a CPU that is AMX (Intel, Sapphire Rapids on) or AVX512-BF16 (Intel Cooper
# Lake on, AMD Zen 4 on); without either, oneDNN emulates bf16 and autocast is many times
# slower than fp32. docs/fast.md has the measurements behind the rule.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags() -> set[str]:
    """The CPU's bf16 features, named as Linux's /proc/cpuinfo names them.

    Asked of torch (torch.cpu's private _is_* helpers), not read from /proc/cpuinfo: they
    come from the cpuinfo library that oneDNN's own kernel choice trusts, and work on every
    OS. Should a torch release drop them, the features read as absent (fp32: slower, still
    right); tests/test_numerics.py checks they exist in the pinned torch."""
    import torch

    checks = {"amx_bf16": "_is_amx_tile_supported", "avx512_bf16": "_is_avx512_bf16_supported"}
    return {flag for flag, name in checks.items() if getattr(torch.cpu, name, lambda: False)()}


def choose_precision(
    precision: str, numerics: str, device_type: str, native_bf16: bool
) -> tuple[str, str]:
    """train.precision ("auto", "fp32" or "bf16") resolved for the machine: (precision, why).

    A fixed rule from the hardware's features, never a timing (which would make the choice,
    and so the results, vary from run to run). `native_bf16`: whether the device runs bf16
    natively (on a CPU, any of BF16_CPU_FLAGS; on CUDA, torch.cuda.is_bf16_supported())."""
    if precision != "auto":
        return precision, "train.precision"
    if device_type == "cpu" and numerics == "portable":
        # The portable caps limit oneDNN to AVX2, which has no bf16 instructions.
        return "fp32", "auto: portable numerics compute in fp32"
    if native_bf16:
        return "bf16", f"auto: this {device_type.upper()} runs bf16 natively"
    return "fp32", f"auto: this {device_type.upper()} has no native bf16"


def native_bf16(device_type: str) -> bool:
    """Whether the device of this type runs bf16 natively (see choose_precision)."""
    import torch

    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(cpu_flags() & set(BF16_CPU_FLAGS))


def bf16_emulated(numerics: str, device_type: str, native_bf16: bool) -> bool:
    """Whether bf16 would run emulated: no native bf16, or a CPU capped to AVX2 (portable)."""
    return not native_bf16 or (device_type == "cpu" and numerics == "portable")
