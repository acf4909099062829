"""Running the trained network: logits in eval mode, and each image's class and probabilities.

The one path from images to answers, for the train stage's validation, the evaluate stage
and `mnist-pipeline predict`: batches of 256 in channels_last memory format under
torch.inference_mode (faster on CPU than larger batches in the default format:
docs/fast.md), in the precision the network was trained in (`MnistCnn.precision`,
which the checkpoint records), so that evaluate, predict and serve compute as train did.
"""

from __future__ import annotations

import contextlib
from typing import assert_never

import numpy as np
import torch

from .model import MnistCnn, Precision, to_input


def autocast(precision: Precision, device: torch.device) -> contextlib.AbstractContextManager:
    """The context a forward pass in `precision` runs in on `device`."""
    match precision:
        case "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        case "fp32":
            return contextlib.nullcontext()
        case _:
            assert_never(precision)


def predict_logits(model: MnistCnn, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """x [n, 1, 28, 28] (to_input's scale) -> logits [n, k] in float32 (k classes), in eval mode
    (no dropout) and in the model's precision.

    The model is left in eval mode and channels_last; training switches it back to train."""
    model.eval()
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    with torch.inference_mode(), autocast(model.precision, x.device):
        parts = [
            model(x[i : i + batch_size].contiguous(memory_format=torch.channels_last)).float()
            for i in range(0, len(x), batch_size)
        ]
    return torch.cat(parts) if parts else torch.empty(0, model.fc3.out_features, device=x.device)


def classify(model: MnistCnn, images: np.ndarray, class_names: list[str]) -> list[dict]:
    """images [n, 28, 28] uint8 -> for each, the predicted class and every class's probability."""
    probabilities = torch.softmax(predict_logits(model, to_input(images)), dim=1)  # [n, k]
    return [
        {
            "predicted": class_names[int(p.argmax())],
            "probabilities": {
                name: round(float(v), 6) for name, v in zip(class_names, p, strict=True)
            },
        }
        for p in probabilities
    ]
