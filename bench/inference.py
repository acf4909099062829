"""Benchmark: evaluate's forward pass over the fast recipe's 69,000 images (59,000 training,
10,000 test), today's inference path against the new one, in one process.

  (a) before: the model in the default memory format, batches of 1000 under torch.no_grad, fp32
  (b) now, fp32: mnist_pipeline.inference.predict_logits (channels_last, batches of 256,
      torch.inference_mode)
  (c) now, bf16: the same with the model's precision bf16 (autocast), as evaluate runs a
      network trained in bf16

alternating for several rounds in native numerics (the fast recipe's) with the machine's core
count as threads; prints each one's median time, the ratios, the CPU model and torch's CPU
capability, and whether (b) predicts the same classes as (a). The weights are a fresh
network's: the time does not depend on them.

    python bench/inference.py [--source DIR] [--rounds 3] [--threads N]

DIR holds the four IDX files, gzipped or not (default: data/raw, else $MNIST_SOURCE).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from mnist_files import find_source, read_split
from mnist_pipeline import numerics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    numerics.configure("native", args.threads)

    import torch

    from mnist_pipeline.inference import predict_logits
    from mnist_pipeline.model import MnistCnn, to_input

    folder = find_source(args.source)
    train_images, _ = read_split(folder, "train")
    test_images, _ = read_split(folder, "test")
    x = to_input(train_images[:59000]), to_input(test_images)  # evaluate's two calls

    torch.manual_seed(0)
    model = MnistCnn().eval()

    @torch.no_grad()
    def before(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        net.eval()
        return torch.cat([net(x[i : i + 1000]) for i in range(0, len(x), 1000)])

    def old_path() -> torch.Tensor:
        net = MnistCnn()
        net.load_state_dict(model.state_dict())  # as loaded: the default memory format
        return torch.cat([before(net.eval(), part) for part in x])

    def new_path(precision: str) -> torch.Tensor:
        net = MnistCnn()
        net.load_state_dict(model.state_dict())
        net.precision = precision
        return torch.cat([predict_logits(net, part) for part in x])

    runs = {
        "before (fp32)": old_path,
        "now, fp32": lambda: new_path("fp32"),
        "now, bf16": lambda: new_path("bf16"),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    logits = {}
    for _ in range(args.rounds):
        for name, run in runs.items():  # alternate, so drifting machine load hits all alike
            start = time.perf_counter()
            logits[name] = run()
            times[name].append(time.perf_counter() - start)
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line),
        "unknown CPU",
    )
    print(
        f"{cpu}, torch {torch.__version__}, capability "
        f"{torch.backends.cpu.get_cpu_capability()}, native numerics, {args.threads} thread(s)"
    )
    n = sum(len(part) for part in x)
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, seconds in medians.items():
        print(f"{name:>14}: median {seconds:6.2f} s of {args.rounds} ({n / seconds:,.0f} images/s)")
    for name in ("now, fp32", "now, bf16"):
        print(f"{name} is {medians['before (fp32)'] / medians[name]:.2f}x faster than before")
    same = (logits["now, fp32"].argmax(1) == logits["before (fp32)"].argmax(1)).float().mean()
    agree = (logits["now, bf16"].argmax(1) == logits["before (fp32)"].argmax(1)).float().mean()
    print(f"same predicted class as before: fp32 {same:.4%}, bf16 {agree:.4%} of {n} images")


if __name__ == "__main__":
    main()
