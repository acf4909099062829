"""The prepared format: one image a line, 784 pixel values 0-255 then the label, tab-separated.

Writing is vectorised: a lookup table holds the decimal text of each byte value, padded to
four bytes, and the padding is dropped in bulk, far faster than numpy.savetxt
(docs/performance.md: `python bench/convert.py`). Reading
uses numpy's C parser; a slow line-by-line scan runs only when it fails, to name the first
bad line.

Empty lines hold no image and are skipped, as numpy.loadtxt skips them, rather than refused:
they carry nothing that could be misread, the stages and any numpy reader then agree on the
images a file holds, and errors and predictions still name the file's own line numbers
(image_lines), so a blank line in the middle of a file does not shift the names of the rest.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import NoReturn

import numpy as np

from .datasets import IMAGE_SIDE
from .errors import PipelineError
from .files import read_bytes

PIXELS = IMAGE_SIDE * IMAGE_SIDE
FIELDS = PIXELS + 1
WIDTH = 4  # widest field: three digits and a separator


def _text_table(separator: str) -> np.ndarray:
    """[256] uint32: the decimal text of 0..255 then `separator`, NUL-padded to 4 bytes."""
    table = np.zeros((256, WIDTH), dtype=np.uint8)
    for value in range(256):
        text = f"{value}{separator}".encode()
        table[value, : len(text)] = np.frombuffer(text, dtype=np.uint8)
    return table.view("<u4").reshape(256)  # little-endian, so byte order matches the text


PIXEL_TEXT = _text_table("\t")
LABEL_TEXT = _text_table("\n")
ROWS_PER_CHUNK = 512  # the padded buffer (~1.6 MB) stays in cache: faster than all rows at once


def encode(images: np.ndarray, labels: np.ndarray) -> bytes:
    """images [n, 28, 28] uint8, labels [n] uint8 -> the TSV bytes."""
    n = len(images)
    pixels = images.reshape(n, PIXELS)
    padded = np.empty((ROWS_PER_CHUNK, FIELDS), dtype="<u4")  # one 4-byte text cell a field
    parts = []
    for start in range(0, n, ROWS_PER_CHUNK):
        stop = min(n, start + ROWS_PER_CHUNK)
        chunk = padded[: stop - start]
        np.take(PIXEL_TEXT, pixels[start:stop], out=chunk[:, :PIXELS])
        chunk[:, PIXELS] = LABEL_TEXT[labels[start:stop]]
        text = chunk.view(np.uint8).reshape(-1)
        parts.append(text[text != 0].tobytes())  # drop the NUL padding
    return b"".join(parts)


def decode(data: bytes, name: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """TSV bytes -> images [n, 28, 28] uint8, labels [n] uint8 (0 to num_classes - 1), or
    PipelineError at file:line.

    Empty lines are skipped (see the module's docstring); image_lines(data) says which file
    line each image came from.
    """
    table = None
    # numpy would accept a missing final newline (the format does not), and only warns about a
    # file of empty lines; both go to the line scan, which names what is wrong.
    only_newlines = data.startswith((b"\n", b"\r")) and not data.strip(b"\r\n")  # (rare)
    if data.endswith(b"\n") and not only_newlines:
        try:  # numpy's C parser is the fast path; the line scan below only explains failures
            table = np.loadtxt(
                io.BytesIO(data), dtype=np.int32, delimiter="\t", comments=None, ndmin=2
            )
        except (ValueError, OverflowError):
            pass
    if (
        table is None
        or table.shape[1] != FIELDS
        or table.min() < 0
        or table[:, :PIXELS].max() > 255
        or table[:, PIXELS].max() >= num_classes
    ):
        _raise_first_bad_line(data, name, num_classes)
    images = table[:, :PIXELS].astype(np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    return images, table[:, PIXELS].astype(np.uint8)


def _raise_first_bad_line(data: bytes, name: str, num_classes: int) -> NoReturn:
    if not data:
        raise PipelineError(f"{name}: empty file, expected lines of {FIELDS} tab-separated values")
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    else:
        raise PipelineError(f"{name}:{len(lines)}: last line does not end with a newline")
    if all(_is_empty(line) for line in lines):
        raise PipelineError(f"{name}: no image lines, only empty ones")
    for number, line in enumerate(lines, start=1):
        if _is_empty(line):  # skipped by numpy's parser too
            continue
        fields = line.split(b"\t")
        where = f"{name}:{number}"
        if len(fields) != FIELDS:
            raise PipelineError(f"{where}: {len(fields)} fields, expected {FIELDS}")
        for column, field in enumerate(fields, start=1):
            limit = num_classes - 1 if column == FIELDS else 255
            what = "label" if column == FIELDS else f"pixel {column}"
            if not (field.isdigit() and 1 <= len(field) <= 3 and int(field) <= limit):
                raise PipelineError(
                    f"{where}: {what} is {field.decode(errors='replace')!r}, expected 0-{limit}"
                )
    raise PipelineError(f"{name}: not in the prepared TSV format")


def image_lines(data: bytes) -> list[int]:
    """The 1-based line number in `data` of each image decode(data) returns: [n] ints."""
    return [n for n, line in enumerate(data.split(b"\n"), start=1) if not _is_empty(line)]


def _is_empty(line: bytes) -> bool:
    """An empty line, as numpy's parser sees it: nothing, or only the \r of a CRLF ending."""
    return not line.rstrip(b"\r")


def read(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The TSV file at `path`, as decode reads it."""
    return decode(read_bytes(path), str(path), num_classes)
