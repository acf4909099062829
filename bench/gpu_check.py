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
import statistics
import sys
import time
from pathlib import Path

from fast_seeds import FAST
from time_to_99 import time_example

from common import options, read_split
from mnist_pipeline import script

ROOT = Path(__file__).resolve().parents[1]


def since_start() -> float:
    """Seconds since this process started (Linux: its start time in /proc, since boot)."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime, in clock ticks
    return time.clock_gettime(time.CLOCK_BOOTTIME) - started


def seed_range(text: str) -> list[int]:
    """--seeds: "0-4" -> [0, 1, 2, 3, 4], "3" -> [3]."""
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> None:
    args = options(__doc__, seeds="0-4", device="cuda", n_train=59000, n_test=10000,
                   skip_example=False)  # fmt: skip
    seeds = seed_range(args.seeds)
    import torch

    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit(f"error: no CUDA device available to torch {torch.__version__}")
    gpu = torch.cuda.get_device_name() if cuda else "none used"
    cudnn = torch.backends.cudnn.version()
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {cudnn}; GPU: {gpu}")

    from mnist_pipeline import checkpoint, evaluate, inference, model, numerics, prepare
    from mnist_pipeline.params import load_params
    from mnist_pipeline.progress import EpochProgress
    from mnist_pipeline.train import train

    imported = since_start()
    # threads: the Makefile's $(shell nproc), the cores this process may use
    recipe = {**FAST, "threads": len(os.sched_getaffinity(0)), "device": args.device}
    params = load_params(
        ROOT / "params.yaml",
        {f"train.{key}": value for key, value in recipe.items()}
        | {"prepare.n_train": args.n_train, "prepare.n_test": args.n_test},
    )
    settings = numerics.run_settings(params.train)  # as the train stage: configured first
    numerics.configure(settings.numerics, settings.threads)
    p, class_names = params.prepare, list(params.data.class_names)
    images, labels = read_split("train")
    k = len(class_names)
    train_rows, val_rows = prepare.hold_out(labels, p.n_train, p.n_val, p.selection, p.seed, k)
    test_images, test_labels = read_split("test")
    test_rows = prepare.select(test_labels, p.n_test, p.selection, p.seed, k, "prepare.n_test")
    train_set = images[train_rows], labels[train_rows]
    val_set = images[val_rows], labels[val_rows]
    test_set = test_images[test_rows], test_labels[test_rows]
    print(f"{imported:.1f} s to import torch and the pipeline, {since_start() - imported:.1f} s "
          f"to read the data: train {len(train_rows)}, val {len(val_rows)}, test "
          f"{len(test_rows)} images; {params.train}", flush=True)  # fmt: skip

    print("seed precision     val    test  set-up training evaluate process GPU MiB  "
          "(seconds; evaluate on the CPU)")  # fmt: skip
    tests, saved = [], []
    for run, seed in enumerate([*seeds, seeds[0]]):
        train_params = params.train.model_copy(update={"seed": seed})
        recipe_params = train_params.model_dump()
        history: list = []
        progress = EpochProgress(train_params.epochs, 2**31, lambda line: None, None)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        called = time.monotonic()
        net = train(*train_set, *val_set, len(class_names), train_params, settings, progress,
                    history.append)  # fmt: skip
        trained = time.monotonic()
        memory = f"{torch.cuda.max_memory_allocated() / 2**20:7.0f}" if cuda else f"{'-':>7}"
        # The evaluate stage's work, as stages/evaluate.py does it.
        train_logits = inference.predict_logits(net, model.to_input(train_set[0]))
        test_logits = inference.predict_logits(net, model.to_input(test_set[0]))
        evaluate.split_metrics(train_logits, train_set[1])
        test = evaluate.split_metrics(test_logits, test_set[1])["accuracy"]
        evaluate.fake_image_prediction(net, class_names)
        evaluated = time.monotonic()
        assert progress.start is not None  # set when the first epoch began
        print(f"{seed:>4} {net.precision:>9} {history[-1].val_accuracy:7.4f} {test:7.4f} "
              f"{progress.start - called:7.1f} {trained - progress.start:8.1f} "
              f"{evaluated - trained:8.1f} {since_start():7.1f} {memory}", flush=True)  # fmt: skip
        if run < len(seeds):
            tests.append(test)
        if seed == seeds[0]:
            saved.append((net, checkpoint.checkpoint_bytes(net, recipe_params, class_names)))

    (first, first_bytes), (again, again_bytes) = saved
    if first_bytes == again_bytes:
        print(f"seed {seeds[0]} twice: checkpoint bytes identical")
    else:
        weights = first.state_dict()
        differ = sum(not torch.equal(t, again.state_dict()[k]) for k, t in weights.items())
        print(f"seed {seeds[0]} twice: checkpoint bytes differ, in {differ} of "
              f"{len(weights)} weight tensors")  # fmt: skip
    print(f"test accuracy over {len(tests)} seeds: mean {statistics.mean(tests):.4f}, "
          f"lowest {min(tests):.4f}, highest {max(tests):.4f}", flush=True)  # fmt: skip

    if not args.skip_example:
        time_example(args.device)


if __name__ == "__main__":
    script.run(main)
