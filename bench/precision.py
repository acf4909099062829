"""Benchmark: bf16 autocast against fp32 for this project's network on the CPU at hand (the
measurement behind `train.precision: auto`), and evaluate's forward pass before and now.

In one process, in native numerics (the CPU's fastest kernels, as the fast recipe runs) with
the machine's core count as threads, alternating for several rounds so that a drifting
machine load hits all alike:

1. MnistCnn in channels_last at batch 256 on random 28x28 inputs: (a) training steps
   (forward, cross-entropy, backward, AdamW step) and (b) inference under
   torch.inference_mode, three times as many batches, each in fp32 and under
   torch.autocast("cpu", dtype=torch.bfloat16) (inference.autocast, as the project runs it),
   after one warm-up step. Prints the median images per second and the bf16/fp32 ratio.
2. Evaluate's forward pass over the fast recipe's 69,000 images (59,000 training, 10,000
   test): (a) before: the model in the default memory format, batches of 1000 under
   torch.no_grad, fp32; (b) now, fp32: inference.predict_logits (channels_last, batches of
   256, torch.inference_mode); (c) now, bf16: the same in the model's precision bf16, as
   evaluate runs a network trained in bf16. Prints each one's median time, the ratios, and
   whether (b) and (c) predict the same classes as (a). The weights are a fresh network's:
   the time does not depend on them.

    python bench/precision.py [--rounds 3] [--steps 20]

The IDX files, gzipped or not, are read from data/raw, else $MNIST_SOURCE.
"""

from __future__ import annotations

import os
import statistics
import time
from functools import partial

import torch
from torch.nn import functional as F

from common import alternate, machine, options, read_split
from mnist_pipeline import numerics
from mnist_pipeline.inference import autocast, predict_logits
from mnist_pipeline.model import MnistCnn, to_input

BATCH = 256


def main() -> None:
    args = options(__doc__, rounds=3, steps=20)
    threads = os.cpu_count() or 1
    numerics.configure("native", threads)
    torch.manual_seed(0)
    weights = MnistCnn().state_dict()
    x = torch.rand(BATCH, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (BATCH,))
    parts = to_input(read_split("train")[0][:59000]), to_input(read_split("test")[0])

    def network(precision: str) -> MnistCnn:  # as loaded: the default memory format
        net = MnistCnn()
        net.load_state_dict(weights)
        net.precision = precision  # type: ignore[assignment]
        return net

    def rate(training: bool, precision: str) -> float:
        """Images per second of training steps (`training`) or inference batches."""
        model = network(precision).to(memory_format=torch.channels_last).train(training)  # type: ignore[call-overload]
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        steps = args.steps if training else args.steps * 3

        def step() -> None:
            with torch.inference_mode(not training), autocast(precision, x.device):
                out = model(x)
                if training:
                    loss = F.cross_entropy(out, y)
            if training:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

        step()  # warm-up: oneDNN builds its kernels on first use
        start = time.perf_counter()
        for _ in range(steps):
            step()
        return BATCH * steps / (time.perf_counter() - start)

    @torch.no_grad()
    def before() -> torch.Tensor:
        net = network("fp32").eval()
        return torch.cat([net(p[i : i + 1000]) for p in parts for i in range(0, len(p), 1000)])

    def now(precision: str) -> torch.Tensor:
        net = network(precision)
        return torch.cat([predict_logits(net, part) for part in parts])

    kinds = {"train step": True, "inference": False}
    runs = {f"{k} {p}": partial(rate, kinds[k], p) for k in kinds for p in ("fp32", "bf16")}
    runs |= {"before (fp32)": before} | {f"now, {p}": partial(now, p) for p in ("fp32", "bf16")}
    seconds, results = alternate(runs, args.rounds)
    print(f"{machine()}, bf16 flags: {', '.join(sorted(numerics.cpu_flags())) or 'none'}")
    print(f"native numerics, {threads} thread(s), batch {BATCH}, {args.rounds} rounds")
    for kind in kinds:
        fp32, bf16 = (statistics.median(results[f"{kind} {p}"]) for p in ("fp32", "bf16"))
        print(f"{kind:>10}: fp32 {fp32:7.0f} images/s, bf16 autocast {bf16:7.0f} images/s, "
              f"bf16/fp32 {bf16 / fp32:.2f}x")  # fmt: skip
    n = sum(len(part) for part in parts)
    print(f"evaluate's forward pass over {n} images:")
    medians = {name: statistics.median(seconds[name]) for name in list(runs)[4:]}
    for name, median in medians.items():
        print(f"{name:>14}: median {median:6.2f} s of {args.rounds} ({n / median:,.0f} images/s)")
    before_classes = results["before (fp32)"][-1].argmax(1)
    same = {k: (results[k][-1].argmax(1) == before_classes).float().mean() for k in medians}
    for name in ("now, fp32", "now, bf16"):
        print(f"{name} is {medians['before (fp32)'] / medians[name]:.2f}x faster than before")
    print(f"same predicted class as before: fp32 {same['now, fp32']:.4%}, "
          f"bf16 {same['now, bf16']:.4%} of {n} images")  # fmt: skip


if __name__ == "__main__":
    main()
