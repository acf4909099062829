"""A user's own images, prepared as MNIST's were, for inference.classify.

MNIST's digits were made by cropping each to its ink, scaling the longer side to 20 pixels
and centring the result by its centre of mass in a 28x28 field, white ink on black. A photo
or scan of a digit on paper goes through the same steps here, or the network sees something
unlike anything it was trained on.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import PipelineError
from .files import read_bytes

DIGIT_BOX = 20  # MNIST's digits fit a 20x20 box...
SIDE = 28  # ...centred by mass in 28x28
INK_FRACTION = 0.25  # of the darkest-to-lightest range: what counts as ink when cropping
MIN_CONTRAST = 32  # grey levels between background and ink; less is an empty image


def read_image(path: Path) -> np.ndarray:
    """A PNG, JPEG or other image file -> greyscale [h, w] uint8."""
    return decode_image(read_bytes(path), str(path))


def decode_image(data: bytes, name: str) -> np.ndarray:
    """The bytes of a PNG, JPEG or other image -> greyscale [h, w] uint8."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode in ("RGBA", "LA") or "transparency" in image.info:
                # Transparent pixels count as white paper, not as black ink.
                background = Image.new("RGBA", image.size, "white")
                image = Image.alpha_composite(background, image.convert("RGBA"))
            return np.asarray(image.convert("L"), dtype=np.uint8)
    except UnidentifiedImageError:
        raise PipelineError(f"{name}: not a readable image (PNG or JPEG expected)") from None
    except (OSError, ValueError) as exc:  # a damaged file of a known format
        raise PipelineError(f"{name}: not a readable image (PNG or JPEG expected): {exc}") from None


def to_mnist(gray: np.ndarray, name: str) -> np.ndarray:
    """greyscale [h, w] uint8 -> [28, 28] uint8 as MNIST's own images are made."""
    pixels = gray.astype(np.float64)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if np.median(border) > 127:  # a dark digit on light paper: make it light on dark
        pixels = 255 - pixels
        border = 255 - border
    pixels = np.clip(pixels - np.median(border), 0, None)  # the background becomes 0
    if pixels.max() < MIN_CONTRAST:
        raise PipelineError(
            f"{name}: no digit found (the image is blank or has almost no contrast)"
        )
    pixels *= 255 / pixels.max()
    ink = pixels > INK_FRACTION * 255
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    digit = pixels[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # [h, w] cropped to the ink

    height, width = digit.shape
    scale = DIGIT_BOX / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    resized = Image.fromarray(digit.astype(np.uint8)).resize((new_w, new_h), Image.LANCZOS)
    digit = np.asarray(resized, dtype=np.float64)  # [new_h, new_w], longer side 20

    ys, xs = np.indices(digit.shape)
    mass = digit.sum()
    centre_y, centre_x = (ys * digit).sum() / mass, (xs * digit).sum() / mass
    top = min(max(round(SIDE / 2 - centre_y), 0), SIDE - new_h)
    left = min(max(round(SIDE / 2 - centre_x), 0), SIDE - new_w)
    out = np.zeros((SIDE, SIDE), dtype=np.uint8)
    out[top : top + new_h, left : left + new_w] = np.clip(digit, 0, 255).round().astype(np.uint8)
    return out


def top_k(probabilities: dict[str, float], k: int = 3) -> list[tuple[str, float]]:
    return sorted(probabilities.items(), key=lambda item: -item[1])[:k]
