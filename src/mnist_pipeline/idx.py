"""IDX reader that trusts nothing: every field of the header is checked against the bytes.

Format: 2 zero bytes, a type byte (0x08 = unsigned byte), a dimension count, then one
big-endian uint32 per dimension, then the items. Gzip is recognised by its magic bytes, not
by the file name.
"""

from __future__ import annotations

import gzip
import zlib

import numpy as np

from .datasets import IMAGE_SIDE
from .errors import PipelineError
from .files import read_bytes

GZIP_MAGIC = b"\x1f\x8b"
UBYTE = 0x08


def decompress(data: bytes, name: str) -> bytes:
    """Return the IDX bytes of `data`, gunzipping it when it starts with the gzip magic."""
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise PipelineError(f"{name}: corrupt gzip stream ({exc})") from None


def parse_idx(data: bytes, name: str, ndim: int) -> np.ndarray:
    """Parse raw (not gzipped) IDX bytes holding unsigned bytes in `ndim` dimensions."""
    if len(data) < 4:
        raise PipelineError(f"{name}: {len(data)} bytes, too short for an IDX header")
    if data[0] != 0 or data[1] != 0:
        raise PipelineError(f"{name}: not an IDX file (first two bytes must be zero)")
    if data[2] != UBYTE:
        raise PipelineError(f"{name}: IDX type byte is 0x{data[2]:02x}, expected 0x08 (ubyte)")
    if data[3] != ndim:
        raise PipelineError(f"{name}: IDX has {data[3]} dimensions, expected {ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise PipelineError(f"{name}: truncated IDX header ({len(data)} of {header} bytes)")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    # Python ints: the product of declared sizes cannot overflow, and nothing is allocated
    # from a declared count before it has been checked against the real length.
    expected = header + int(np.prod(shape, dtype=object))
    if len(data) != expected:
        raise PipelineError(
            f"{name}: {len(data)} bytes, expected {expected} for shape {shape}"
            + (" (truncated)" if len(data) < expected else " (trailing bytes)")
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def parse_images(data: bytes, name: str) -> np.ndarray:
    """IDX images (magic 0x00000803) -> uint8 array [n, 28, 28]."""
    images = parse_idx(data, name, ndim=3)
    if images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise PipelineError(
            f"{name}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28"
        )
    return images


def parse_labels(data: bytes, name: str, num_classes: int) -> np.ndarray:
    """IDX labels (magic 0x00000801) -> uint8 array [n] of classes 0 to num_classes - 1."""
    labels = parse_idx(data, name, ndim=1)
    if labels.size and labels.max() >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise PipelineError(
            f"{name}: label {labels[bad]} at index {bad}, expected 0-{num_classes - 1}"
        )
    return labels


def read_split(images_path, labels_path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Read and cross-check one split: images [n, 28, 28] uint8, labels [n] uint8 (0 to
    num_classes - 1)."""
    images = parse_images(_read(images_path), str(images_path))
    labels = parse_labels(_read(labels_path), str(labels_path), num_classes)
    if len(images) != len(labels):
        raise PipelineError(
            f"{images_path}: {len(images)} images but {labels_path} has {len(labels)} labels"
        )
    return images, labels


def _read(path) -> bytes:
    return decompress(read_bytes(path), str(path))


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of a uint8 array (used to write test data and to check round trips)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, UBYTE, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    return header + array.tobytes()
