"""File helpers: reading with one clear error, and atomic writes, so a failed stage never
leaves a half-written output."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import PipelineError


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.write_bytes(data)
        tmp.chmod(0o644)  # mkstemp makes it private; outputs are ordinary files
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, obj: object) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")


def write_dir_atomic(path: Path, fill: Callable[[Path], None]) -> None:
    """Build a folder with fill(tmp_dir) beside `path`, then rename it into place: `path` is at
    every moment absent, the complete old folder or the complete new one, and an error in `fill`
    leaves it as it was. (`dvc repro` removes a stage's outputs before running it anyway.)"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    old = tmp.with_suffix(".old")
    try:
        fill(tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private
        if path.is_dir():
            os.replace(path, old)  # out of the way whole: removing it in place shows a partial set
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, old):
            shutil.rmtree(leftover, ignore_errors=True)


def read_bytes(path: Path, what: str = "file", limit: int | None = None) -> bytes:
    """The bytes of `path`, or a PipelineError naming it and saying what went wrong, also when
    it holds more than `limit` bytes (read no further: /dev/zero ends too)."""
    try:
        with open(path, "rb") as file:
            data = file.read() if limit is None else file.read(limit + 1)
        if limit is not None and len(data) > limit:
            raise PipelineError(f"{path}: more than {limit:,} bytes, too large for a {what}")
        return data
    except FileNotFoundError:
        raise PipelineError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise PipelineError(f"{path}: is a folder, expected a {what}") from None
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read ({exc.strerror})") from None


def read_text(path: Path, what: str = "file") -> str:
    """The UTF-8 text of `path`, or a PipelineError naming it."""
    try:
        return read_bytes(path, what).decode("utf-8")
    except UnicodeDecodeError:
        raise PipelineError(f"{path}: not a text file (UTF-8 expected)") from None
