"""Check on a machine with one NVIDIA GPU: the fast recipe (`make fast`) trained on CUDA over
several seeds in one process, then PyTorch's own MNIST example on the same GPU. It needs the
project's Python packages and the four MNIST files only: no DVC, no network.

    MNIST_SOURCE=DIR python bench/gpu_check.py [--seeds 0-4] [--device cuda|cpu]
        [--n-train 59000] [--n-test 10000] [--skip-example]

The four MNIST IDX files, gzipped or not, are read from data/raw, else $MNIST_SOURCE; the data
are the prepare stage's subsets, kept in memory. Prints the torch, CUDA and cuDNN versions and
the GPU, the seconds to import torch and the pipeline and to read the data, then a row a run,
for each seed and then for the first seed once more:

  precision  train.precision as resolved (auto: bf16 where the device runs it natively)
  val, test  accuracy on the validation images and on the test subset
  set-up     seconds from train()'s call to its first epoch's start: seeding, the network and
             the data on the device (on the first run, CUDA's start too)
  training   seconds from the first epoch's start to train()'s return: every epoch, the last
             validation and the weights' copy back to the CPU
  evaluate   seconds of the evaluate stage's work, on the CPU as that stage runs today: logits
             and metrics of the training and test subsets, the fake image's prediction
  process    seconds since this process started, when the run's evaluation ended (the first
             row: what one run costs from a cold start)
  GPU MiB    torch.cuda.max_memory_allocated() during the run (its peak reset before each)

Then whether the first seed's two runs gave identical checkpoint bytes (if not, how many weight
tensors differ), the test accuracy over the seeds, and PyTorch's example (bench/time_to_99.py)
in its own process, timed from its start to its first test accuracy >= 99.0 % (or 14 epochs).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from fast_seeds import FAST, run_seed, spread
from time_to_99 import time_example

from common import ROOT, options, prepared
from mnist_pipeline import script


def since_start() -> float:
    """Seconds since this process started (Linux: its start time in /proc, since boot)."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime, in clock ticks
    return time.clock_gettime(time.CLOCK_BOOTTIME) - started


def main() -> None:
    args = options(__doc__, seeds="0-4", device="cuda", n_train=59000, n_test=10000,
                   skip_example=False)  # fmt: skip
    first, _, last = args.seeds.partition("-")  # "0-4" or "3"
    seeds = list(range(int(first), int(last or first) + 1))
    import torch

    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit(f"error: no CUDA device available to torch {torch.__version__}")
    gpu = torch.cuda.get_device_name() if cuda else "none used"
    cudnn = torch.backends.cudnn.version()
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {cudnn}; GPU: {gpu}")

    from mnist_pipeline import checkpoint, numerics
    from mnist_pipeline.params import load_params

    imported = since_start()
    sizes = {"prepare.n_train": args.n_train, "prepare.n_test": args.n_test}
    params = load_params(ROOT / "params.yaml", FAST | sizes | {"train.device": args.device})
    settings = numerics.run_settings(params.train)  # as the train stage: configured first
    numerics.configure(settings.numerics, settings.threads)
    sets = prepared(params)
    print(f"{imported:.1f} s to import torch and the pipeline, {since_start() - imported:.1f} s "
          f"to read the data: train {len(sets[0][1])}, val {len(sets[1][1])}, test "
          f"{len(sets[2][1])} images; "
          f"{params.train}", flush=True)  # fmt: skip

    print("seed precision     val    test  set-up training evaluate process GPU MiB  "
          "(seconds; evaluate on the CPU)")  # fmt: skip
    tests, saved = [], []
    for seed in [*seeds, seeds[0]]:
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        run = run_seed(params, seed, params.train.precision, sets)
        memory = f"{torch.cuda.max_memory_allocated() / 2**20:7.0f}" if cuda else f"{'-':>7}"
        print(f"{seed:>4} {run.net.precision:>9} {run.val:7.4f} {run.test:7.4f} {run.setup:7.1f} "
              f"{run.training:8.1f} {run.evaluate:8.1f} {since_start():7.1f} {memory}")  # fmt: skip
        tests.append(run.test)
        if seed == seeds[0]:
            recipe = params.train.model_copy(update={"seed": seed}).model_dump()
            class_names = list(params.data.class_names)
            saved.append((run.net, checkpoint.checkpoint_bytes(run.net, recipe, class_names)))

    (net, net_bytes), (again, again_bytes) = saved
    if net_bytes == again_bytes:
        print(f"seed {seeds[0]} twice: checkpoint bytes identical")
    else:
        weights = net.state_dict()
        differ = sum(not torch.equal(t, again.state_dict()[k]) for k, t in weights.items())
        print(f"seed {seeds[0]} twice: checkpoint bytes differ, in {differ} of "
              f"{len(weights)} weight tensors")  # fmt: skip
    print(spread(f"test accuracy over {len(seeds)} seeds", tests[: len(seeds)]), flush=True)
    if not args.skip_example:
        time_example(args.device)


if __name__ == "__main__":
    script.run(main)
