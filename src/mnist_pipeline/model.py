"""The network: the reference tutorial's CNN, and its inputs: scaling, tensors, augmentation."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

Precision = Literal["fp32", "bf16"]  # what the network computes in (train.precision resolved)


class MnistCnn(nn.Module):
    """The reference tutorial's network: two conv blocks, then three linear layers, the last
    with one output a class (MNIST's ten by default, as the shipped checkpoint has)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=5)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5)
        self.pool = nn.MaxPool2d(2)
        self.dropout_conv = nn.Dropout(0.25)
        self.dropout_fc = nn.Dropout(0.5)
        self.fc1 = nn.Linear(64 * 4 * 4, 512)
        self.fc2 = nn.Linear(512, 256)
        self.fc3 = nn.Linear(256, num_classes)
        # The precision it was trained in, "fp32" or "bf16" (train.precision as resolved): not a
        # weight, but inference runs in it too (inference.predict_logits), and the checkpoint
        # records it.
        self.precision: Precision = "fp32"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [bs, 1, 28, 28], pixel values scaled to 0..1
        x = self.pool(torch.relu(self.conv1(x)))  # [bs, 32, 12, 12]
        x = self.dropout_conv(x)
        x = self.pool(torch.relu(self.conv2(x)))  # [bs, 64, 4, 4]
        x = x.flatten(1)  # [bs, 1024]
        x = self.dropout_fc(torch.relu(self.fc1(x)))  # [bs, 512]
        x = torch.relu(self.fc2(x))  # [bs, 256]
        return self.fc3(x)  # [bs, num_classes] logits


def to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 images [n, 28, 28] -> float tensor [n, 1, 28, 28] in 0..1, as the network expects."""
    return torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)


def augment(
    x: torch.Tensor, shift: float, rotate: float, generator: torch.Generator
) -> torch.Tensor:
    """Random shifts of up to `shift` pixels and rotations of up to `rotate` degrees of a batch
    x [bs, 1, 28, 28], drawn from `generator` (training's augmentation)."""
    bs = len(x)
    angle = (torch.rand(bs, generator=generator) * 2 - 1) * math.radians(rotate)
    # affine_grid works in [-1, 1] coordinates: one pixel is 2/28.
    offset = (torch.rand(bs, 2, generator=generator) * 2 - 1) * shift * 2 / 28
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([cos, -sin, offset[:, 0]], 1), torch.stack([sin, cos, offset[:, 1]], 1)], 1
    ).to(x.device)  # [bs, 2, 3]
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # [bs, 28, 28, 2]
    return F.grid_sample(x, grid, align_corners=False)  # [bs, 1, 28, 28]


def to_tensors(
    images: np.ndarray, labels: np.ndarray, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """images [n, 28, 28] uint8, labels [n] -> x [n, 1, 28, 28] channels_last, y [n] int64."""
    x = to_input(images).to(device, memory_format=torch.channels_last)
    return x, torch.from_numpy(labels.astype(np.int64)).to(device)
