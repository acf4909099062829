"""Running the trained network: logits in eval mode, and each image's class and probabilities.

The one path from images to answers, for the train stage's validation, the evaluate stage
and `mnist-pipeline predict`: batches of 256 in channels_last memory format under
torch.inference_mode (faster on CPU than larger batches in the default format:
docs/fast.md), in the precision the network was trained in (`MnistCnn.precision`,
which the checkpoint records), so that evaluate, predict and serve compute as train did.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from .datasets import NUM_CLASSES
from .model import to_input


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context a forward pass in `precision` ("fp32" or "bf16") runs in on `device`."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """x [n, 1, 28, 28] (to_input's scale) -> logits [n, NUM_CLASSES] in float32, in eval mode
    (no dropout) and in the model's precision.

    The model is left in eval mode and channels_last; training switches it back to train."""
    model.eval()
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    precision = getattr(model, "precision", "fp32")
    with torch.inference_mode(), autocast(precision, x.device):
        parts = [
            model(x[i : i + batch_size].contiguous(memory_format=torch.channels_last)).float()
            for i in range(0, len(x), batch_size)
        ]
    return torch.cat(parts) if parts else torch.empty(0, NUM_CLASSES, device=x.device)


def classify(model: nn.Module, images: np.ndarray, class_names: list[str]) -> list[dict]:
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
