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

    python bench/time_to_99.py [--source DIR] [--scaling] [--skip-example]

DIR holds the four MNIST IDX files, gzipped or not (default: data/raw, else $MNIST_SOURCE).
--scaling also runs the fast recipe at n_train 1,000, 10,000 and 59,000 and prints each
stage's time; --skip-example leaves out (1), for a quicker look at (2).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mnist_files import find_source, read_split

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.99
MAX_EPOCHS = 14
STAGES = ("prepare", "train", "evaluate", "plot")
# The portable caps (mnist_pipeline.numerics) must not reach either side from the user's shell:
# the example runs as torch runs by default, and the fast recipe sets its own numerics.
CAPS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")


def pytorch_example(folder: Path, device: str = "cpu") -> None:
    """PyTorch's MNIST example on `device` ("cpu" or "cuda"); prints a line per epoch (on CUDA
    with the peak GPU memory) and exits once the test accuracy reaches TARGET. Imports inside:
    the parent process never loads torch before timing."""
    import torch
    from torch import nn
    from torch.nn import functional as F
    from torch.utils.data import DataLoader, TensorDataset

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = self.dropout2(x)
            return F.log_softmax(self.fc2(x), dim=1)

    def tensors(split: str) -> TensorDataset:
        images, labels = read_split(folder, split)
        x = (torch.from_numpy(images.copy()).float().div(255).unsqueeze(1) - 0.1307) / 0.3081
        return TensorDataset(x, torch.from_numpy(labels.astype("int64")))

    torch.manual_seed(1)  # the example's default --seed
    # On CUDA, as the example does: a worker process and pinned memory, both loaders shuffling.
    cuda = {"num_workers": 1, "pin_memory": True, "shuffle": True} if device == "cuda" else {}
    train_loader = DataLoader(tensors("train"), batch_size=64, **({"shuffle": True} | cuda))
    test_loader = DataLoader(tensors("test"), batch_size=1000, **cuda)
    model = Net().to(device)
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
        correct = 0
        with torch.no_grad():
            for data, target in test_loader:
                data, target = data.to(device), target.to(device)
                correct += int((model(data).argmax(dim=1) == target).sum())
        accuracy = correct / len(test_loader.dataset)  # type: ignore[arg-type]
        memory = ""
        if device == "cuda":
            memory = f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
        print(f"epoch {epoch}: test accuracy {accuracy:.4f}{memory}", flush=True)
        scheduler.step()
        if accuracy >= TARGET:
            return


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in CAPS}


def time_example(folder: Path, device: str = "cpu") -> tuple[float, int | None]:
    """PyTorch's example on `device` in its own process: seconds from its start until it
    reached TARGET (or ended its MAX_EPOCHS), and the epoch that reached it (None: never)."""
    start = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, __file__, "--run-example", str(folder), "--example-device", device],
        env=_clean_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    reached = None
    for line in process.stdout:
        print(f"  {time.monotonic() - start:6.1f} s  PyTorch's example, {line.strip()}", flush=True)
        found = re.match(r"epoch (\d+): test accuracy ([\d.]+)", line)
        if found and float(found.group(2)) >= TARGET and reached is None:
            reached = int(found.group(1))
    if process.wait() != 0:
        sys.exit("error: PyTorch's example failed")
    return time.monotonic() - start, reached


def fresh_clone(folder: Path, where: Path) -> Path:
    """A clone of HEAD at `where` with the venv linked in and data/raw fetched (untimed)."""
    clone = where / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    env = _clean_env() | {"DATASET_SOURCE": str(folder), "PATH": _venv_path()}
    subprocess.run(
        ["dvc", "repro", "--quiet", "fetch"], cwd=clone, env=env, stdout=subprocess.DEVNULL,
        check=True,
    )  # fmt: skip
    return clone


def _venv_path() -> str:
    return f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"


def run_fast(clone: Path, n_train: int | None = None) -> tuple[float, list[tuple[float, str]]]:
    """`make fast` in `clone`: its wall time and every output line with its arrival time."""
    # -o: the linked venv is up to date, though its stamp is older than the clone's files.
    command = ["make", "--no-print-directory", "-o", ".venv/.run-installed", "fast"]
    if n_train is not None:
        command.append(f"FAST_N_TRAIN={n_train}")
    start = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=clone,
        env=_clean_env() | {"PATH": _venv_path()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append((time.monotonic() - start, line.rstrip("\n")))
    if process.wait() != 0:
        sys.exit("error: make fast failed:\n" + "\n".join(text for _, text in lines[-20:]))
    return time.monotonic() - start, lines


def stage_times(lines: list[tuple[float, str]]) -> dict[str, float]:
    """Each stage's wall time: from DVC's echo of its command (DVC starts it right after) to
    its last line of output. Before and after, DVC works: checking, hashing, caching."""
    times: dict[str, float] = {}
    current, began, last_own = None, None, 0.0
    for at, text in lines:
        started = re.match(r"Running stage '(\w+)'", text)
        if current and began is not None and (started or _is_dvc_line(text)):
            times[current] = last_own - began
            current = None
        if started:
            current, began = started.group(1), None
        elif current and began is None and text.startswith("> "):
            began = last_own = at
        elif current and began is not None:
            last_own = at
    return times


def _is_dvc_line(text: str) -> bool:
    return text.startswith(("Updating lock file", "Ran experiment", "Use `dvc", "Stage '"))


def startup_times() -> dict[str, float]:
    """Each stage script's start-up: Python and the imports, as `--help` does them."""
    times = {}
    for stage in STAGES:
        start = time.monotonic()
        subprocess.run(
            [sys.executable, str(ROOT / "stages" / f"{stage}.py"), "--help"],
            env=_clean_env(),
            stdout=subprocess.DEVNULL,
            check=True,
        )
        times[stage] = time.monotonic() - start
    return times


def cpu_model() -> str:
    with open("/proc/cpuinfo") as file:
        for line in file:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path)
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--skip-example", action="store_true")
    parser.add_argument("--run-example", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--example-device", default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_example:
        pytorch_example(args.run_example, args.example_device)
        return
    folder = find_source(args.source)
    import torch  # only now: the numbers below are printed, nothing is computed here

    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; torch {torch.__version__}, "
          f"capability {torch.backends.cpu.get_cpu_capability()}", flush=True)  # fmt: skip
    # The machine may be shared: the load says how much the times below had to share it.
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        clone = fresh_clone(folder, Path(tmp))
        fast, lines = run_fast(clone)
        shutil.rmtree(clone / ".dvc" / "tmp", ignore_errors=True)
    accuracy = next((text for _, text in reversed(lines) if "evaluate: test accuracy" in text), "?")
    print(f"make fast: {fast:.1f} s end to end ({accuracy.strip()})", flush=True)
    if not args.skip_example:
        example, reached = time_example(folder)
        if reached:
            print(f"PyTorch's example: {example:.1f} s to its first test accuracy >= 99.0 % "
                  f"(epoch {reached})")  # fmt: skip
        else:
            print(f"PyTorch's example: never 99.0 % in {MAX_EPOCHS} epochs, {example:.1f} s")
        print(f"make fast reaches 99 % {example / fast:.1f}x sooner")

    stages = stage_times(lines)
    startups = startup_times()
    print("\nwhere the fast recipe's time goes (seconds):")
    print(f"{'':>22} {'stage':>7} {'start-up':>9} {'own work':>9}")
    for stage in STAGES:
        wall = stages.get(stage, 0.0)
        print(f"{stage:>22} {wall:7.1f} {startups[stage]:9.1f} {wall - startups[stage]:9.1f}")
    dvc = fast - sum(stages.values())
    print(f"{'DVC and make':>22} {dvc:7.1f}")
    print(f"{'total':>22} {fast:7.1f}")
    for _, text in lines:
        if re.match(r"(train|evaluate): .*( s |peak)", text):
            print(f"  {text.strip()}")

    if args.scaling:
        print("\nscaling: each stage's wall time (seconds) by n_train")
        header = " ".join(f"{stage:>8}" for stage in STAGES)
        print(f"{'n_train':>8} {header} {'DVC':>6} {'total':>6}")
        for n_train in (1000, 10000, 59000):
            with tempfile.TemporaryDirectory() as tmp:
                total, lines = run_fast(fresh_clone(folder, Path(tmp)), n_train)
            times = stage_times(lines)
            row = " ".join(f"{times.get(s, 0.0):8.1f}" for s in STAGES)
            print(f"{n_train:>8} {row} {total - sum(times.values()):6.1f} {total:6.1f}")
    print("load average at the end (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
