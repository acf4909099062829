"""Benchmark: bf16 autocast against fp32 for this project's network on the CPU at hand, the
measurement behind `train.precision: auto`.

In one process, in native numerics (the CPU's fastest kernels), MnistCnn in channels_last
at batch 256 on random 28x28 inputs: (a) a training step (forward, cross-entropy, backward,
AdamW step) and (b) inference under torch.inference_mode, each in fp32 and under
torch.autocast("cpu", dtype=torch.bfloat16), alternating for several rounds so that a
drifting machine load hits both alike. Prints the median images per second of each, the
bf16/fp32 ratio, the CPU model, torch's CPU capability and the CPU's bf16 flags.

    python bench/precision.py [--rounds 5] [--steps 20] [--threads N (default: all cores)]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time

from mnist_pipeline import numerics

BATCH = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    numerics.configure("native", args.threads)

    import torch
    from torch.nn import functional as F

    from mnist_pipeline.model import MnistCnn

    torch.manual_seed(0)
    x = torch.rand(BATCH, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (BATCH,))

    def autocast(precision: str):
        if precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_steps(precision: str) -> float:
        model = MnistCnn().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        model.train()

        def step() -> None:
            optimizer.zero_grad()
            with autocast(precision):
                loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()

        step()  # warm-up: oneDNN builds its kernels on first use
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        return BATCH * args.steps / (time.perf_counter() - start)

    def inference(precision: str) -> float:
        model = MnistCnn().to(memory_format=torch.channels_last).eval()  # type: ignore[call-overload]
        with torch.inference_mode(), autocast(precision):
            model(x)  # warm-up
            start = time.perf_counter()
            for _ in range(args.steps * 3):
                model(x)
            return BATCH * args.steps * 3 / (time.perf_counter() - start)

    runs = {
        ("train step", "fp32"): lambda: train_steps("fp32"),
        ("train step", "bf16"): lambda: train_steps("bf16"),
        ("inference", "fp32"): lambda: inference("fp32"),
        ("inference", "bf16"): lambda: inference("bf16"),
    }
    rates: dict[tuple[str, str], list[float]] = {key: [] for key in runs}
    for _ in range(args.rounds):
        for key, run in runs.items():
            rates[key].append(run())
    model_name = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line),
        "unknown CPU",
    )
    flags = sorted(
        {f for line in open("/proc/cpuinfo") if line.startswith("flags") for f in line.split()}
        & {"avx512_bf16", "amx_bf16", "amx_tile"}
    )
    print(
        f"{model_name}, torch {torch.__version__}, capability "
        f"{torch.backends.cpu.get_cpu_capability()}, bf16 flags: {', '.join(flags) or 'none'}"
    )
    print(f"native numerics, {args.threads} thread(s), batch {BATCH}, {args.rounds} rounds")
    for what in ("train step", "inference"):
        fp32 = statistics.median(rates[(what, "fp32")])
        bf16 = statistics.median(rates[(what, "bf16")])
        print(
            f"{what:>10}: fp32 {fp32:7.0f} images/s, bf16 autocast {bf16:7.0f} images/s, "
            f"bf16/fp32 {bf16 / fp32:.2f}x"
        )


if __name__ == "__main__":
    main()
