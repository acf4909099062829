"""Photo-like pages of real MNIST digits, and the same digits clean, as image file bytes.

Used by tests/test_predict.py (a small seeded set) and bench/photos.py (a bigger one).

A photo: dark ink on paper at phone-photo size, the digit enlarged smoothly to a random size
and place; lighting that falls from 215-245 at its brightest to 150 at its darkest, along a
random direction, mixed with vignetting; a wide soft-edged shadow band (a quarter to half of
the page's shorter side, 15-30 % darker) at a random angle; Gaussian sensor noise; JPEG
compression. Clean: the same digit, same size and place, black on white, no degradation, PNG.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

PAGE = (1200, 1600)  # width, height: a 2 MP phone photo of a page, portrait
INK = 0.85  # ink absorbs 85 % of the light that falls on it
DARKEST_LIGHT = 150.0  # grey level of white paper where the lighting is weakest


def place_digit(digit: np.ndarray, page: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """digit [28, 28] uint8 (MNIST: light on dark) -> ink [h, w] float in 0..1 on a page of
    `page` (width, height): enlarged to a third to two thirds of the shorter side, anywhere
    on the page with a margin."""
    width, height = page
    side = int(rng.uniform(1 / 3, 2 / 3) * min(page))
    big = Image.fromarray(digit).resize((side, side), Image.BICUBIC)
    top = int(rng.integers(side // 8, height - side - side // 8))
    left = int(rng.integers(side // 8, width - side - side // 8))
    ink = np.zeros((height, width))
    ink[top : top + side, left : left + side] = np.asarray(big, dtype=np.float64) / 255
    return np.clip(ink, 0, 1)


def lighting(page: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """[h, w] grey level of white paper: a gradient in a random direction mixed with vignetting,
    from a random brightest level (215-245) down to DARKEST_LIGHT."""
    width, height = page
    ys, xs = np.mgrid[0:height, 0:width] / max(page)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = xs * np.cos(angle) + ys * np.sin(angle)
    vignette = (xs - width / max(page) / 2) ** 2 + (ys - height / max(page) / 2) ** 2
    field = rng.uniform(0.6, 1.0) * _unit(gradient) + rng.uniform(0, 0.4) * _unit(vignette)
    brightest = rng.uniform(215, 245)
    return brightest - (brightest - DARKEST_LIGHT) * _unit(field)


def shadow_band(page: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """[h, w] factor 0.7..1: a soft-edged band across the page at a random angle and place."""
    width, height = page
    ys, xs = np.mgrid[0:height, 0:width]
    angle = rng.uniform(0, np.pi)
    across = (xs - width / 2) * np.cos(angle) + (ys - height / 2) * np.sin(angle)
    centre = rng.uniform(-0.4, 0.4) * min(page)
    half = rng.uniform(1 / 8, 1 / 4) * min(page)
    softness = rng.uniform(0.01, 0.04) * min(page)  # the penumbra
    inside = 1 / (1 + np.exp((np.abs(across - centre) - half) / softness))  # 1 in, 0 out
    return 1 - rng.uniform(0.15, 0.3) * inside


def photo(digit: np.ndarray, rng: np.random.Generator, page: tuple[int, int] = PAGE) -> bytes:
    """A photo-like JPEG of `digit` [28, 28] uint8 (MNIST's own, light on dark)."""
    ink = place_digit(digit, page, rng)
    grey = lighting(page, rng) * shadow_band(page, rng) * (1 - INK * ink)
    grey += rng.normal(0, rng.uniform(2, 6), grey.shape)  # sensor noise
    image = Image.fromarray(np.clip(grey, 0, 255).round().astype(np.uint8))
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=int(rng.integers(70, 92)))
    return out.getvalue()


def clean(digit: np.ndarray, rng: np.random.Generator, page: tuple[int, int] = PAGE) -> bytes:
    """The same digit as photo() with the same rng state: same size and place, black on white."""
    ink = place_digit(digit, page, rng)
    out = io.BytesIO()
    Image.fromarray((255 * (1 - ink)).round().astype(np.uint8)).save(out, "PNG")
    return out.getvalue()


def photo_and_clean(digit: np.ndarray, seed: int, page: tuple[int, int] = PAGE) -> tuple:
    """(photo JPEG bytes, clean PNG bytes) of one digit, the same placement in both."""
    return photo(digit, np.random.default_rng(seed), page), clean(
        digit, np.random.default_rng(seed), page
    )


def _unit(values: np.ndarray) -> np.ndarray:
    """values scaled to 0..1."""
    return (values - values.min()) / (values.max() - values.min())
