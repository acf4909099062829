"""Benchmark: what portable numerics cost, as a user feels it: the whole train stage.

Runs `python stages/train.py` on the prepared data (`make repro` first) with params.yaml's
values, once with `train.numerics: portable` and once with `native`, alternating for several
rounds, and prints each one's median wall time, the ratio portable/native, the CPU model and
torch's CPU capability. Extra `--set key=value` pairs change train params for both (for
example `--set epochs=10` for a quicker look).

    python bench/numerics.py [--rounds 3] [--set epochs=10 ...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from ruamel.yaml import YAML

from mnist_pipeline.params import read_params

ROOT = Path(__file__).resolve().parents[1]
PREPARED = ROOT / "data" / "prepared"


def cpu_model() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        line = next((line for line in cpuinfo if line.startswith("model name")), ":unknown")
    return line.split(":", 1)[1].strip()


def stage_seconds(params_path: Path, out: Path) -> float:
    command = [
        sys.executable, str(ROOT / "stages/train.py"), "--params", str(params_path),
        "--train", str(PREPARED / "train.tsv"), "--val", str(PREPARED / "val.tsv"),
        "--model", str(out / "model.pt"), "--history", str(out / "history"),
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    if not (PREPARED / "train.tsv").is_file():
        sys.exit(f"error: {PREPARED}/train.tsv not found: run `make repro` first")
    yaml = YAML(typ="safe")
    params = read_params(ROOT / "params.yaml")
    for pair in args.set:
        key, value = pair.split("=", 1)
        params["train"][key] = yaml.load(value)
    times: dict[str, list[float]] = {"portable": [], "native": []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            for numerics in times:
                params["train"]["numerics"] = numerics
                params_path = Path(folder) / "params.yaml"
                yaml.dump(params, params_path)
                times[numerics].append(stage_seconds(params_path, Path(folder)))
    train = params["train"]
    print(
        f"{cpu_model()}, torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}); "
        f"train stage: {train['epochs']} epochs, batch {train['batch_size']}, "
        f"{train['threads']} thread(s), {args.rounds} rounds"
    )
    for numerics, seconds in times.items():
        print(f"{numerics:>9}: median {statistics.median(seconds):6.1f} s  {seconds}")
    ratio = statistics.median(times["portable"]) / statistics.median(times["native"])
    print(f"portable takes {ratio:.2f}x the wall time of native")


if __name__ == "__main__":
    main()
