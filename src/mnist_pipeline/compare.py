"""`make compare`: the experiments and the workspace as one table that fits a terminal.

`dvc exp show` prints every param, metric and dependency hash (about 90 columns here). This
table keeps the experiment, only the params whose values differ between the rows shown, and
the three numbers to compare recipes by: validation accuracy (the last epoch's, from DVCLive),
test accuracy and test loss.
"""

from __future__ import annotations

import json
import subprocess
import sys

from .errors import PipelineError

MAX_COLUMNS = 12
METRICS = {  # column: (metrics file, path inside it)
    "val acc": ("metrics/train/metrics.json", ("val", "accuracy")),
    "test acc": ("metrics/metrics.json", ("test", "accuracy")),
    "test loss": ("metrics/metrics.json", ("test", "loss")),
}


def experiments_json(commits: int = 1) -> list:
    """`dvc exp show --json` of the repository in the current directory: the workspace, the
    last `commits` commits and their experiments."""
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--json", "-n", str(commits)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise PipelineError(f"compare: `dvc exp show --json` failed: {last}")
    return json.loads(result.stdout)


def rows(shown: list) -> list[tuple[str, dict]]:
    """(name, revision data) for the workspace, each baseline and its experiments, in the
    order `dvc exp show` lists them; queued and failed experiments have no data and are left out."""
    found = []
    for baseline in shown:
        rev = baseline["rev"]
        name = baseline.get("name") or (rev if rev == "workspace" else rev[:7])
        if baseline.get("data"):
            found.append((name, baseline["data"]))
        for experiment in baseline.get("experiments") or []:
            for revision in experiment.get("revs", []):
                data = revision.get("data") or {}
                if data.get("metrics"):
                    found.append((revision.get("name") or revision["rev"][:7], data))
    return found


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _params(data: dict) -> dict[str, object]:
    return _flatten(((data.get("params") or {}).get("params.yaml") or {}).get("data") or {})


def _metric(data: dict, column: str) -> object:
    path, keys = METRICS[column]
    value = ((data.get("metrics") or {}).get(path) or {}).get("data") or {}
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _short_names(keys: list[str], all_keys: list[str]) -> dict[str, str]:
    """The last part of each dotted key (`lr`), or the whole key where another param has the
    same last part (`train.seed`, `prepare.seed`)."""
    last = [key.rsplit(".", 1)[-1] for key in all_keys]
    return {key: (key if last.count(key.rsplit(".", 1)[-1]) > 1 else key.rsplit(".", 1)[-1])
            for key in keys}  # fmt: skip


def _cell(value: object) -> str:
    """A param as written (0.005, 1e-05, adamw), a list joined by commas, a missing value '-'."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _number(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def table(shown: list) -> str:
    found = rows(shown)
    if not found:
        return "no experiments yet: run `dvc repro` or `dvc exp run` first"
    params = [_params(data) for _, data in found]
    keys = sorted({key for p in params for key in p})
    differing = [key for key in keys if len({repr(p.get(key)) for p in params}) > 1]
    room = MAX_COLUMNS - 1 - len(METRICS)
    shown_keys, left_out = differing[:room], differing[room:]
    names = _short_names(shown_keys, keys)
    header = ["experiment", *(names[key] for key in shown_keys), *METRICS]
    body = [
        [
            name,
            *(_cell(p.get(key)) for key in shown_keys),
            *(_number(_metric(data, column)) for column in METRICS),
        ]
        for (name, data), p in zip(found, params, strict=True)
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    numeric = [False] + [True] * (len(header) - 1)

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    out = [line(header), line(["-" * w for w in widths]), *(line(row) for row in body)]
    if not differing:
        out.append("(all rows have the same params)")
    if left_out:
        out.append(f"(more params differ, not shown: {', '.join(left_out)})")
    return "\n".join(out)
