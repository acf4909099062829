"""Benchmark: what portable numerics cost, as a user feels it: the whole train stage.

Runs `python stages/train.py` on the prepared data (`make repro` first) with params.yaml's
values, once with `train.numerics: portable` and once with `native`, alternating for several
rounds, and prints each one's median wall time and the ratio portable/native. `--set
key=value` changes a train param for both (`--set epochs=2` for a quick look).

    python bench/numerics.py [--rounds 3] [--set epochs=10 ...]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

from ruamel.yaml import YAML

from common import ROOT, alternate, machine, options, train_changes
from mnist_pipeline.params import apply_overrides, read_params

PREPARED = ROOT / "data" / "prepared"


def main() -> None:
    args = options(__doc__, rounds=3, set=[])
    if not (PREPARED / "train.tsv").is_file():
        sys.exit(f"error: {PREPARED}/train.tsv not found: run `make repro` first")
    params = apply_overrides(read_params(ROOT / "params.yaml"), train_changes(args.set))
    runs = {}
    with tempfile.TemporaryDirectory() as out:
        for numerics in ("portable", "native"):
            params["train"]["numerics"] = numerics
            YAML(typ="safe").dump(params, Path(out) / f"{numerics}.yaml")
            runs[numerics] = partial(subprocess.run, [
                sys.executable, ROOT / "stages/train.py", "--params", f"{out}/{numerics}.yaml",
                "--train", PREPARED / "train.tsv", "--val", PREPARED / "val.tsv",
                "--model", f"{out}/model.pt", "--history", f"{out}/history",
            ], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        seconds, _ = alternate(runs, args.rounds)
    train = params["train"]
    print(
        f"{machine()}; train stage: {train['epochs']} epochs, batch {train['batch_size']}, "
        f"{train['threads']} thread(s), {args.rounds} rounds"
    )
    for numerics, times in seconds.items():
        listed = ", ".join(f"{s:.1f}" for s in times)
        print(f"{numerics:>9}: median {statistics.median(times):6.1f} s  [{listed}]")
    ratio = statistics.median(seconds["portable"]) / statistics.median(seconds["native"])
    print(f"portable takes {ratio:.2f}x the wall time of native")


if __name__ == "__main__":
    main()
