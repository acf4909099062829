"""A user's own images, read as a viewer shows them and prepared as MNIST's were, for
inference.classify.

MNIST's digits were made by cropping each to its ink, scaling the longer side to 20 pixels
and centring the result by its centre of mass in a 28x28 field, white ink on black. A photo
or scan of a digit on paper goes through the same steps here, or the network sees something
unlike anything it was trained on. Photos first lose their lighting: the paper's brightness
is estimated locally, so gradients, shadows and vignetting are not taken for ink.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np

# Pillow sets Image.BOX, .BILINEAR and .LANCZOS with setattr at import, where a type checker
# cannot see them (hence the `type: ignore`s; Image.Resampling.* is the typed spelling).
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from ..datasets import IMAGE_SIDE
from ..errors import PipelineError
from ..files import read_bytes

DIGIT_BOX = 20  # MNIST's digits fit a 20x20 box, centred by mass in IMAGE_SIDE x IMAGE_SIDE
INK_FRACTION = 0.25  # of the darkest-to-lightest range: what counts as ink when cropping
# What surely is ink: shadows and uneven light the background estimate leaves behind stay
# below it. The crop starts from this ink and takes fainter ink only close around it.
SURE_INK_FRACTION = 0.5
FRINGE = 0.1  # how close: this fraction of the sure ink's longer side
MIN_CONTRAST = 32  # grey levels between background and ink; less is an empty image

# Phone cameras make 12, 48 (8000x6000 or 8064x6048) and 50 MP photos: all pass. Above,
# decoding alone would take seconds and gigabytes, for a digit that ends 20 pixels tall.
MAX_PIXELS = 50_000_000
# A 50 MP PNG of pure noise is about 150 MB; a larger file is no photo of a digit.
MAX_FILE_BYTES = 256 * 2**20
WORK_SIDE = 1600  # longer side, in pixels, of the greyscale image decode_image returns at most
BACKGROUND_SIDE = 64  # shorter side of the reduced page the paper's brightness is taken from
# Dark marks narrower than this fraction of the page's shorter side are ink, wider ones are
# lighting (shadows): a digit filling its image has strokes up to about a fifth of its height.
CLOSING_FRACTION = 1 / 4
NOISE_SIGMAS = 3  # paper grain and sensor noise: ink darker than the paper by this many sigma
LUT_16_TO_8 = np.round(np.arange(65536) * (255 / 65535)).astype(np.uint8)  # [65536] uint8
_PILLOW_LIMIT = threading.Lock()  # see _open_lazily


class ImageTooLarge(PipelineError):
    """An image whose header declares more than MAX_PIXELS pixels, refused before decoding
    (`mnist-pipeline serve` answers 413)."""


def read_image(path: Path) -> np.ndarray:
    """An image file of at most MAX_FILE_BYTES -> greyscale [h, w] uint8, as decode_image."""
    return decode_image(read_bytes(path, "image", limit=MAX_FILE_BYTES), str(path))


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
    return image if size == image.size else image.resize(size, Image.BOX)  # type: ignore[attr-defined]


def to_mnist(gray: np.ndarray, name: str) -> np.ndarray:
    """greyscale [h, w] uint8 -> [28, 28] uint8 as MNIST's own images are made.

    Dark ink on light paper or light on dark, anywhere on the page, under uneven lighting.
    Raises PipelineError when no digit stands out from the background.
    """
    pixels = gray.astype(np.float64)
    if _dark_on_light(pixels):
        pixels = 255 - pixels  # MNIST is light on dark
    ink = pixels - _background(pixels)  # [h, w] how much lighter than the local background
    ink = np.clip(ink - NOISE_SIGMAS * _noise_sigma(ink), 0, None)
    if ink.max() < MIN_CONTRAST:
        raise PipelineError(
            f"{name}: no digit found (the image is blank or has almost no contrast)"
        )
    ink *= 255 / ink.max()
    top, bottom, left, right = _ink_box(ink)
    digit = ink[top:bottom, left:right]  # [h, w] cropped to the ink

    height, width = digit.shape
    scale = DIGIT_BOX / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    resized = Image.fromarray(digit.astype(np.uint8)).resize((new_w, new_h), Image.LANCZOS)  # type: ignore[attr-defined]
    digit = np.asarray(resized, dtype=np.float64)  # [new_h, new_w], longer side 20

    ys, xs = np.indices(digit.shape)
    mass = digit.sum()
    centre_y, centre_x = (ys * digit).sum() / mass, (xs * digit).sum() / mass
    top = min(max(round(IMAGE_SIDE / 2 - centre_y), 0), IMAGE_SIDE - new_h)
    left = min(max(round(IMAGE_SIDE / 2 - centre_x), 0), IMAGE_SIDE - new_w)
    out = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
    out[top : top + new_h, left : left + new_w] = np.clip(digit, 0, 255).round().astype(np.uint8)
    return out


def _dark_on_light(pixels: np.ndarray) -> bool:
    """True when the page (the border, mostly) is lighter than the middle of the image's range:
    a dark digit on paper, even under dim or uneven light."""
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    return bool(np.median(border) > (pixels.min() + pixels.max()) / 2)


def _background(pixels: np.ndarray) -> np.ndarray:
    """pixels [h, w] float, light marks on a darker background -> [h, w] the background alone.

    A morphological opening (erosion, then dilation) with a square a quarter of the shorter
    side wide removes every light mark narrower than that (the digit's strokes) and keeps
    smooth or wide changes of brightness (gradients, vignetting, shadows). It runs on the
    page reduced to BACKGROUND_SIDE pixels, which is enough for lighting and keeps it fast.
    """
    height, width = pixels.shape
    page = Image.fromarray(pixels.astype(np.float32))  # mode "F": no rounding
    small_side = min(BACKGROUND_SIDE, height, width)
    small = page.resize(
        (max(1, round(width * small_side / min(height, width))),
         max(1, round(height * small_side / min(height, width)))),
        Image.BOX,  # type: ignore[attr-defined]
    )  # fmt: skip
    # Odd, as Pillow's filters need, and at least 3: on a tiny image (a few pixels a side)
    # a 1-pixel filter would keep every mark as background, finding no digit.
    size = max(3, 2 * round(small_side * CLOSING_FRACTION / 2) + 1)
    opened = small.filter(ImageFilter.MinFilter(size)).filter(ImageFilter.MaxFilter(size))
    return np.asarray(opened.resize((width, height), Image.BILINEAR), dtype=np.float64)  # type: ignore[attr-defined]


def _noise_sigma(ink: np.ndarray) -> float:
    """The standard deviation of the noise in `ink` [h, w], from the paper around the digit:
    the median absolute deviation, which the digit's few pixels barely move."""
    return float(1.4826 * np.median(np.abs(ink - np.median(ink))))


def _ink_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    """ink [h, w] 0-255 -> (top, bottom, left, right) of the digit, bottom and right exclusive:
    the box of the pixels over INK_FRACTION of the maximum, searched only within FRINGE of
    the box of the pixels over SURE_INK_FRACTION (a faint shadow edge across the page would
    otherwise stretch the box to the page's edges)."""
    top, bottom, left, right = _box(ink > SURE_INK_FRACTION * 255)
    margin = int(np.ceil(FRINGE * max(bottom - top, right - left)))
    top, left = max(0, top - margin), max(0, left - margin)
    near = ink[top : bottom + margin, left : right + margin]
    inner_top, inner_bottom, inner_left, inner_right = _box(near > INK_FRACTION * 255)
    return top + inner_top, top + inner_bottom, left + inner_left, left + inner_right


def _box(marked: np.ndarray) -> tuple[int, int, int, int]:
    """marked [h, w] bool, some True -> (top, bottom, left, right) of the True pixels."""
    rows, cols = np.flatnonzero(marked.any(axis=1)), np.flatnonzero(marked.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def top_k(probabilities: dict[str, float], k: int = 3) -> list[tuple[str, float]]:
    return sorted(probabilities.items(), key=lambda item: -item[1])[:k]
