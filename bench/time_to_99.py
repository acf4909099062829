"""Benchmark: time to 99 % test accuracy, PyTorch's own MNIST example against `make fast`, in
one run on the machine at hand.

(1) PyTorch's example recipe (pytorch/examples, mnist/main.py), written from its description:
    its own network (conv 1->32 3x3, conv 32->64 3x3, max-pool 2, dropout 0.25, fc 9216->128,
    dropout 0.5, fc 128->10, log-softmax, NLL loss), Adadelta lr 1.0, StepLR step 1 gamma 0.7,
    a shuffling DataLoader of batch 64 over a TensorDataset (the IDX files read once into
    tensors, normalised with mean 0.1307 and deviation 0.3081), test batch 1000, torch's
    default thread count and kernels. It runs as its own process, timed from the process's
    start until its test accuracy first reaches 99.0 % (at most 14 epochs; if it never does,
    its 14-epoch time counts).
(2) `make fast` end to end, in a fresh clone of this repository's HEAD (so no run-cache of an
    earlier run can answer for it) whose data/raw is fetched beforehand, untimed: the
    experiment from changed params to metrics and plots.

Prints both times, the ratio, the CPU model and torch's CPU capability, then where the fast
recipe's time goes (from the time each line of its output arrived): each stage's start-up
(Python and its imports, timed apart as `python stages/<stage>.py --help`), its own work,
and DVC's own (starting, hashing, caching, committing the experiment).

    python bench/time_to_99.py [--skip-example]

The IDX files, gzipped or not, are read from data/raw, else $MNIST_SOURCE. --skip-example
leaves out (1), for a quicker look at (2).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from common import ROOT, find_source, machine, options, read_split

TARGET, MAX_EPOCHS = 0.99, 14
STAGES = ("prepare", "train", "evaluate", "plot")
# The portable caps (mnist_pipeline.numerics) must not reach either side from the user's shell:
# the example runs as torch runs by default, and the fast recipe sets its own numerics.
CAPS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")
ENV = {k: v for k, v in os.environ.items() if k not in CAPS}
ENV["PATH"] = f"{ROOT / '.venv/bin'}{os.pathsep}{ENV.get('PATH', '')}"
DVC_LINES = ("Updating lock file", "Ran experiment", "Use `dvc", "Stage '")


def pytorch_example(device: str) -> None:
    """PyTorch's MNIST example on `device` ("cpu" or "cuda"); prints a line per epoch and exits
    once the test accuracy reaches TARGET. Its Net as one Sequential: the same layers, made in
    the same order."""
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10), nn.LogSoftmax(dim=1),
    ).to(device)  # fmt: skip

    def tensors(split: str) -> TensorDataset:
        images, labels = read_split(split)
        x = (torch.from_numpy(images.copy()).float().div(255).unsqueeze(1) - 0.1307) / 0.3081
        return TensorDataset(x, torch.from_numpy(labels.astype("int64")))

    torch.manual_seed(1)  # the example's default --seed
    # On CUDA, as the example does: a worker process and pinned memory, both loaders shuffling.
    cuda = {"num_workers": 1, "pin_memory": True, "shuffle": True} if device == "cuda" else {}
    train_loader = DataLoader(tensors("train"), batch_size=64, **({"shuffle": True} | cuda))
    test_loader = DataLoader(tensors("test"), batch_size=1000, **cuda)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    for epoch in range(1, MAX_EPOCHS + 1):
        model.train()
        for batch, (data, target) in enumerate(train_loader):
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            loss = F.nll_loss(model(data), target)
            loss.backward()
            optimizer.step()
            if batch % 10 == 0:  # the example's --log-interval: a loss.item() every 10 batches
                loss.item()
        model.eval()
        with torch.no_grad():
            correct = sum(
                int((model(x.to(device)).argmax(dim=1) == y.to(device)).sum())
                for x, y in test_loader
            )
        accuracy = correct / len(test_loader.dataset)
        print(f"epoch {epoch}: test accuracy {accuracy:.4f}", flush=True)
        scheduler.step()
        if accuracy >= TARGET:
            return


def time_example(device: str) -> float:
    """PyTorch's example on `device` in its own process, each epoch's line printed with when it
    came: the seconds from its start until it reached TARGET (or ended its MAX_EPOCHS)."""
    example, epochs = timed_lines([sys.executable, __file__, "--run-example", device])
    for at, text in epochs:
        print(f"  {at:6.1f} s  PyTorch's example, {text}")
    reached = [t.split(":")[0] for _, t in epochs if float(t.rsplit(" ", 1)[1]) >= TARGET]
    never = f"(never 99.0 % in {MAX_EPOCHS} epochs)"
    first = f"to its first test accuracy >= 99.0 % ({reached[0]})" if reached else never
    print(f"PyTorch's example on {device}: {example:.1f} s {first}", flush=True)
    return example


def timed_lines(command: list[str], **popen) -> tuple[float, list[tuple[float, str]]]:
    """Runs `command`: its wall seconds, and each line of its output with when it arrived."""
    start, lines = time.monotonic(), []
    with subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, text=True, **popen) as process:
        for line in process.stdout:
            lines.append((time.monotonic() - start, line.rstrip("\n")))
    if process.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed:\n" + "\n".join(t for _, t in lines[-20:]))
    return time.monotonic() - start, lines


def run_fast() -> tuple[float, list[tuple[float, str]]]:
    """`make fast` in a fresh clone of HEAD, the venv linked in and data/raw fetched (untimed):
    its wall time and its output lines with their arrival times."""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "--quiet", ROOT, clone], check=True)
        (clone / ".venv").symlink_to(ROOT / ".venv")
        fetch = ["dvc", "repro", "--quiet", "fetch"]
        env = ENV | {"DATASET_SOURCE": str(find_source())}
        subprocess.run(fetch, cwd=clone, env=env, stdout=subprocess.DEVNULL, check=True)
        # -o: the linked venv is up to date, though its stamp is older than the clone's files.
        make = ["make", "--no-print-directory", "-o", ".venv/.run-installed", "fast"]
        return timed_lines(make, cwd=clone, stderr=subprocess.STDOUT)


def stage_times(lines: list[tuple[float, str]]) -> dict[str, float]:
    """Each stage's wall time: from DVC's echo of its command (DVC starts it right after) to
    its last line of output. Before and after, DVC works: checking, hashing, caching."""
    began: dict[str, float] = {}
    ended: dict[str, float] = {}
    stage = None
    for at, text in lines:
        if started := re.match(r"Running stage '(\w+)'", text):
            stage = started.group(1)
        elif text.startswith(DVC_LINES):
            stage = None
        elif stage and stage not in began and text.startswith("> "):
            began[stage] = ended[stage] = at
        elif stage in began:
            ended[stage] = at
    return {stage: ended[stage] - began[stage] for stage in began}


def main() -> None:
    args = options(__doc__, skip_example=False, run_example="")
    if args.run_example:  # "cpu" or "cuda": this process is the example
        return pytorch_example(args.run_example)
    print(f"CPU: {machine()}", flush=True)
    # The machine may be shared: the load says how much the times below had to share it.
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    fast, lines = run_fast()
    accuracy = next((text for _, text in reversed(lines) if "evaluate: test accuracy" in text), "?")
    print(f"make fast: {fast:.1f} s end to end ({accuracy.strip()})", flush=True)
    if not args.skip_example:
        example = time_example("cpu")
        print(f"make fast reaches 99 % {example / fast:.1f}x sooner")

    stages = stage_times(lines)
    print("\nwhere the fast recipe's time goes (seconds):")
    print(f"{'':>22} {'stage':>7} {'start-up':>9} {'own work':>9}")
    for stage in STAGES:
        help_run, _ = timed_lines([sys.executable, str(ROOT / "stages" / f"{stage}.py"), "--help"])
        wall = stages.get(stage, 0.0)
        print(f"{stage:>22} {wall:7.1f} {help_run:9.1f} {wall - help_run:9.1f}")
    print(f"{'DVC and make':>22} {fast - sum(stages.values()):7.1f}\n{'total':>22} {fast:7.1f}")
    for _, text in lines:
        if re.match(r"(train|evaluate): .*( s |peak)", text):
            print(f"  {text.strip()}")
    print("load average at the end (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
