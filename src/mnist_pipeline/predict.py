"""A user's own images, read as a viewer shows them and prepared as MNIST's were, for
inference.classify.

MNIST's digits were made by cropping each to its ink, scaling the longer side to 20 pixels
and centring the result by its centre of mass in a 28x28 field, white ink on black. A photo
or scan of a digit on paper goes through the same steps here, or the network sees something
unlike anything it was trained on.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import PipelineError
from .files import read_bytes

DIGIT_BOX = 20  # MNIST's digits fit a 20x20 box...
SIDE = 28  # ...centred by mass in 28x28
INK_FRACTION = 0.25  # of the darkest-to-lightest range: what counts as ink when cropping
MIN_CONTRAST = 32  # grey levels between background and ink; less is an empty image

# Phone cameras make 12, 48 (8000x6000 or 8064x6048) and 50 MP photos: all pass. Above,
# decoding alone would take seconds and gigabytes, for a digit that ends 20 pixels tall.
MAX_PIXELS = 50_000_000
WORK_SIDE = 1600  # longer side, in pixels, of the greyscale image decode_image returns at most
LUT_16_TO_8 = np.round(np.arange(65536) * (255 / 65535)).astype(np.uint8)  # [65536] uint8
_PILLOW_LIMIT = threading.Lock()  # see _open_lazily


class ImageTooLarge(PipelineError):
    """An image whose header declares more than MAX_PIXELS pixels, refused before decoding
    (`mnist-pipeline serve` answers 413)."""


def read_image(path: Path) -> np.ndarray:
    """An image file -> greyscale [h, w] uint8, as decode_image."""
    return decode_image(read_bytes(path), str(path))


def decode_image(data: bytes, name: str) -> np.ndarray:
    """The bytes of any image file Pillow reads -> greyscale [h, w] uint8 as a viewer shows it.

    - Orientation: the EXIF Orientation tag is applied (a phone's sideways JPEG comes upright).
    - Size: the pixel count is read from the header before any pixel is decoded; more than
      MAX_PIXELS raises ImageTooLarge, naming `name` and the size. Images with a side longer
      than WORK_SIDE come back reduced (area-averaged) to WORK_SIDE on that side; JPEGs are
      decoded at 1/2, 1/4 or 1/8 scale by the decoder itself when that is still large enough.
    - Modes: scaled to 0-255, never clipped to it. 16-bit integer ("I;16*"): 0-65535.
      32-bit integer ("I"): 0-65535 when every value is in that range (Pillow puts 16-bit
      PGM/PPM samples there), otherwise the image's own minimum to maximum. Float ("F"): 0-1,
      values outside clipped. Transparent pixels (alpha, or a palette's transparent colour)
      are white paper. Colour, CMYK, palette and 1-bit images: Pillow's luminance.
    - Multi-frame files (GIF, TIFF): the first frame.
    Raises PipelineError for anything that is not a readable image.
    """
    try:
        with _open_lazily(data) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageTooLarge(
                    f"{name}: {width}x{height} pixels, more than the {MAX_PIXELS / 1e6:g} MP limit"
                )
            if image.format == "JPEG":
                image.draft("L", _fitted_size(image.size, WORK_SIDE))  # decoded reduced
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            grey = _to_grey(image)
        return np.asarray(_fitted(grey, WORK_SIDE), dtype=np.uint8)
    except Image.DecompressionBombError as exc:  # a GIF frame or TIFF tile larger than stated
        raise ImageTooLarge(f"{name}: {exc}") from None
    except UnidentifiedImageError:
        raise PipelineError(f"{name}: not a readable image (PNG or JPEG expected)") from None
    except (OSError, ValueError, SyntaxError) as exc:  # a damaged file of a known format
        raise PipelineError(f"{name}: not a readable image (PNG or JPEG expected): {exc}") from None


def _open_lazily(data: bytes) -> Image.Image:
    """Image.open: the header only, no pixel decoded yet.

    Without Pillow's own size check, which would raise at Image.open on the largest files,
    before their size can be read and named; decode_image checks it, with a lower limit.
    The setting is Pillow's global, so it is lifted only for the header's parsing, and under
    a lock so that concurrent requests cannot restore it in the wrong order.
    """
    with _PILLOW_LIMIT:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(io.BytesIO(data))
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _to_grey(image: Image.Image) -> Image.Image:
    """An image of any mode -> mode "L", scaled as decode_image says."""
    if image.mode.startswith("I;16"):
        return Image.fromarray(LUT_16_TO_8[np.asarray(image)])  # 0-65535 -> 0-255, rounded
    if image.mode == "I":
        values = np.asarray(image)
        low, high = int(values.min()), int(values.max())
        if low >= 0 and high <= 65535:
            return Image.fromarray(LUT_16_TO_8[values])
        return _scaled(values, low, high)
    if image.mode == "F":
        return _scaled(np.asarray(image), 0.0, 1.0)
    if image.has_transparency_data:
        # Transparent pixels count as white paper, not as black ink: composite on white.
        rgba = image.convert("RGBA")
        page = Image.new("RGBA", image.size, "white")
        return Image.alpha_composite(page, rgba).convert("L")
    if image.mode == "LAB":  # Pillow has no LAB -> L conversion
        image = image.convert("RGB")
    return image.convert("L")


def _scaled(values: np.ndarray, low: float, high: float) -> Image.Image:
    """values [h, w] -> mode "L": low -> 0, high -> 255, outside clipped."""
    span = max(high - low, 1e-12)  # a flat image: all 0, found blank by to_mnist
    grey = (values.astype(np.float32) - np.float32(low)) * np.float32(255 / span)
    return Image.fromarray(np.clip(grey, 0, 255).round().astype(np.uint8))


def _fitted_size(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """(width, height) scaled down so that the longer side is at most `longest`."""
    scale = min(1.0, longest / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _fitted(image: Image.Image, longest: int) -> Image.Image:
    """image reduced (area-averaged) so that its longer side is at most `longest` pixels."""
    size = _fitted_size(image.size, longest)
    return image if size == image.size else image.resize(size, Image.BOX)


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
