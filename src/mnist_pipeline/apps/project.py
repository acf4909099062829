"""Which evaluation a model file's test accuracy comes from, as the project's dvc.yaml and
dvc.lock tell it: for the commands used beside the pipeline (predict, serve), which load
whatever model the workspace holds, an experiment's included."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml import YAMLError as _YAMLError

from ..errors import PipelineError

EVALUATE = "evaluate"  # the stage, as dvc.yaml names it, whose metrics hold the test accuracy
STALE = "not evaluated yet: run `dvc repro`"


def _md5(path: Path) -> str:
    """DVC's hash of a file: the plain md5 of its bytes."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "md5").hexdigest()


def _yaml(path: Path) -> Any:  # whatever the YAML holds: the caller catches what is amiss
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))  # as DVC reads them


def paths(root: Path = Path()) -> dict[str, str]:
    """dvc.yaml's `vars: paths` of the project at `root` (default: the current folder), the one
    place the pipeline's paths are written: the commands run beside it take their defaults from
    it. PipelineError when there is no such dvc.yaml."""
    try:
        return next(v["paths"] for v in _yaml(root / "dvc.yaml")["vars"] if "paths" in v)
    except (OSError, _YAMLError, KeyError, TypeError, StopIteration):
        raise PipelineError(
            f"{root.absolute() / 'dvc.yaml'}: no pipeline's `vars: paths` found: run this in the "
            "project's folder, or give the file's path (--model; for report, --metrics)"
        ) from None


def evaluation(model_path: Path) -> tuple[float, int] | str:
    """(test accuracy, test images) from the evaluate stage's metrics when dvc.lock shows they
    were made from this very file (same md5) and are unchanged since; else why not, a phrase.
    The project is the nearest folder above the model with a dvc.yaml, whose `vars: paths`
    names the model and metrics paths dvc.lock records."""
    # abspath, not resolve: DVC may link the model into its cache, outside the project.
    folder = Path(os.path.abspath(model_path)).parent
    root = next((d for d in [folder, *folder.parents] if (d / "dvc.yaml").is_file()), None)
    if root is None:
        return "test accuracy unknown: no dvc.yaml in its folder or above"
    try:
        named = paths(root)
        if not (root / "dvc.lock").is_file():
            return STALE
        stage = _yaml(root / "dvc.lock")["stages"].get(EVALUATE)
        if stage is None:
            return STALE
        recorded = {entry["path"]: entry.get("md5") for entry in stage["deps"] + stage["outs"]}
        if recorded.get(named["model"]) != _md5(model_path):
            return STALE  # retrained (or another checkpoint) since the last evaluation
        metrics_path = root / named["metrics"]
        if not metrics_path.is_file() or recorded.get(named["metrics"]) != _md5(metrics_path):
            return f"{named['metrics']} changed since its evaluation: run `dvc repro`"
        test = json.loads(metrics_path.read_text(encoding="utf-8"))["test"]
        return float(test["accuracy"]), int(test["n"])
    except (PipelineError, OSError, _YAMLError, ValueError, KeyError, TypeError, AttributeError,
            OverflowError):  # fmt: skip
        return f"test accuracy unknown: {root}'s dvc.yaml, dvc.lock or metrics unreadable"


def describe(model_path: Path) -> str:
    """'models/model.pt (test accuracy 0.980, 100 test images)', or why none is given."""
    found = evaluation(model_path)
    if isinstance(found, str):
        return f"{model_path} ({found})"
    return f"{model_path} (test accuracy {found[0]:.3f}, {found[1]} test images)"
