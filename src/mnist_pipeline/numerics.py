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
