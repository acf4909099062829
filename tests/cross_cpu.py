"""Train and evaluate a very small run, then print the SHA-256 of the checkpoint, of the metrics
as JSON and of the test logits. tests/test_cross_cpu.py runs it natively and under qemu-user.

    python tests/cross_cpu.py portable|native

20 image-steps: under emulation (minutes), computing, not importing torch, is the cost.
"""

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mnist_pipeline import checkpoint, evaluate, inference, model, numerics, train  # noqa: E402
from mnist_pipeline.params import load_params  # noqa: E402
from mnist_pipeline.progress import EpochProgress  # noqa: E402

NAMES = [str(k) for k in range(10)]


def main(choice: str) -> None:
    rng = np.random.default_rng(0)  # integers only: the same on every CPU
    images = rng.integers(0, 256, size=(25, 28, 28), dtype=np.uint8)
    labels = np.arange(25, dtype=np.uint8) % 10
    # 2 epochs of 10 images (one batch): 20 image-steps, validated on 5 after each.
    overrides = {"train.epochs": 2, "train.lr": 0.05, "train.numerics": choice}
    params = load_params(ROOT / "params.yaml", overrides).train
    # As the stages do: configured first; under emulation a late call goes unnoticed.
    settings = numerics.run_settings(params)
    numerics.configure(settings.numerics, settings.threads)
    progress = EpochProgress(params.epochs, 10**6, lambda line: None, None)
    net = train.train(
        images[:10], labels[:10], images[10:15], labels[10:15], len(NAMES),
        params, settings, progress,
    )  # fmt: skip
    saved = checkpoint.checkpoint_bytes(net, params.model_dump(), NAMES)
    # Evaluate as the evaluate stage does: from the checkpoint file.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.pt"
        path.write_bytes(saved)
        loaded = checkpoint.load_checkpoint(path).model
    logits = inference.predict_logits(loaded, model.to_input(images[15:]))  # [10, 10]
    metrics = {
        "test": evaluate.split_metrics(logits, labels[15:]),
        "fake": evaluate.fake_image_prediction(loaded, NAMES),
    }
    text = json.dumps(metrics, sort_keys=True)
    print(
        json.dumps(
            {
                "model": hashlib.sha256(saved).hexdigest(),
                "metrics": hashlib.sha256(text.encode()).hexdigest(),
                # The rounded metrics hide small differences; the logits' bytes do not.
                "logits": hashlib.sha256(logits.numpy().tobytes()).hexdigest(),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
