"""`mnist-pipeline predict`: classify a user's images, or the lines of a prepared .tsv file,
printing one line (or JSON object) per image."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .. import checkpoint, files, inference, numerics, tsv
from ..errors import PipelineError
from . import preprocess, project


def predict_files(inputs: list[Path], model_path: Path, as_json: bool) -> bool:
    """Print a prediction per image (or per line of a prepared .tsv); False if any input failed."""
    if not model_path.exists():
        raise PipelineError(
            f"{model_path}: model file not found (looked in {Path.cwd()}): run this inside the "
            "project after `make repro`, or pass --model PATH"
        )
    saved = checkpoint.load_checkpoint(model_path)
    numerics.configure(saved.numerics, saved.threads)  # as train computed, before computing
    # Which model answers, and how good it is: after `dvc exp run` the workspace holds the
    # experiment's. On stderr, so that --json output stays one object a line.
    print(f"predict: {project.describe(model_path)}", file=sys.stderr, flush=True)
    net, class_names = saved.model, saved.class_names
    all_ok = True
    for path in inputs:
        try:
            if path.suffix.lower() == ".tsv":
                data = files.read_bytes(path)
                images, _ = tsv.decode(data, str(path), len(class_names))
                names = [f"{path}:{line}" for line in tsv.image_lines(data)]  # the file's lines
            else:
                images = preprocess.to_mnist(preprocess.read_image(path), str(path))[None]
                names = [str(path)]
        except PipelineError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            all_ok = False
            continue
        for name, result in zip(names, inference.classify(net, images, class_names), strict=True):
            if as_json:
                print(json.dumps({"file": name, **result}), flush=True)
            else:
                top = ", ".join(
                    f"{c} {p:.3f}" for c, p in preprocess.top_k(result["probabilities"])
                )
                print(f"{name}: {result['predicted']}  ({top})", flush=True)
    return all_ok
