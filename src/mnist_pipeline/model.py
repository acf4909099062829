"""The network, its checkpoint format, and the hand-drawn "fake" test image."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import PipelineError

ARCHITECTURE = "MnistCnn"
CHECKPOINT_KEYS = {"architecture", "state_dict", "params", "class_names"}


class MnistCnn(nn.Module):
    """The reference tutorial's network: two conv blocks, then three linear layers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=5)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5)
        self.pool = nn.MaxPool2d(2)
        self.dropout_conv = nn.Dropout(0.25)
        self.dropout_fc = nn.Dropout(0.5)
        self.fc1 = nn.Linear(64 * 4 * 4, 512)
        self.fc2 = nn.Linear(512, 256)
        self.fc3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [bs, 1, 28, 28], pixel values scaled to 0..1
        x = self.pool(torch.relu(self.conv1(x)))  # [bs, 32, 12, 12]
        x = self.dropout_conv(x)
        x = self.pool(torch.relu(self.conv2(x)))  # [bs, 64, 4, 4]
        x = x.flatten(1)  # [bs, 1024]
        x = self.dropout_fc(torch.relu(self.fc1(x)))  # [bs, 512]
        x = torch.relu(self.fc2(x))  # [bs, 256]
        return self.fc3(x)  # [bs, 10] logits


def to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 images [n, 28, 28] -> float tensor [n, 1, 28, 28] in 0..1, as the network expects."""
    return torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)


def fake_image() -> np.ndarray:
    """The design's hand-drawn digit: vertical, diagonal and horizontal bars, [28, 28] uint8."""
    image = np.zeros((28, 28), dtype=np.uint8)
    image[5:23, 9] = 180  # vertical bar, rows 5..22
    for r in range(9, 19):
        image[r, r] = 250  # diagonal
    image[14, 5:15] = 200  # horizontal bar
    return image


def checkpoint_bytes(model: nn.Module, params: dict, class_names: list[str]) -> bytes:
    """A self-describing checkpoint that loads with weights_only=True (no code is unpickled).

    Saved through memory: torch.save names the zip's folder after the file it writes, so
    saving to a temporary file name would make the bytes differ from run to run.
    """
    buffer = io.BytesIO()
    torch.save(
        {
            "architecture": ARCHITECTURE,
            "state_dict": model.state_dict(),
            "params": params,
            "class_names": list(class_names),
        },
        buffer,
    )
    return buffer.getvalue()


def load_checkpoint(path: Path) -> tuple[MnistCnn, dict]:
    """Load a checkpoint safely; return the model in eval mode and the checkpoint dict."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise PipelineError(f"{path}: model file not found") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PipelineError(f"{path}: not a safe, readable checkpoint ({first_line})") from None
    if not isinstance(checkpoint, dict) or not CHECKPOINT_KEYS <= checkpoint.keys():
        found = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise PipelineError(f"{path}: checkpoint keys {found}, expected {sorted(CHECKPOINT_KEYS)}")
    if checkpoint["architecture"] != ARCHITECTURE:
        raise PipelineError(
            f"{path}: architecture {checkpoint['architecture']!r}, expected {ARCHITECTURE!r}"
        )
    model = MnistCnn()
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        raise PipelineError(f"{path}: weights do not match {ARCHITECTURE}: {detail}") from None
    model.eval()
    return model, checkpoint
