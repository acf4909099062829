"""Running the trained network: logits in eval mode, and each image's class and probabilities.

The one path from images to answers, for the train stage's validation, the evaluate stage
and `mnist-pipeline predict`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .datasets import NUM_CLASSES
from .model import to_input


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """x [n, 1, 28, 28] (to_input's scale) -> logits [n, NUM_CLASSES], in eval mode (no dropout).

    The model is left in eval mode; training switches it back."""
    model.eval()
    parts = [model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
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
