"""File helpers: reading with one clear error, atomic writes and an atomic folder swap."""

import re
import threading

import pytest

from mnist_pipeline import files
from mnist_pipeline.errors import PipelineError


def test_the_folder_swap_never_leaves_a_moment_without_a_complete_folder(tmp_path):
    target = tmp_path / "raw"
    files.replace_dir_atomic(target, lambda d: (d / "version").write_text("0"))
    seen, stop = [], threading.Event()

    def watch():  # reads the folder as fast as it can while it is swapped 200 times
        while not stop.is_set():
            try:
                seen.append((target / "version").read_text())
            except FileNotFoundError:
                seen.append(None)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for version in range(1, 201):
            files.replace_dir_atomic(
                target, lambda d, v=version: (d / "version").write_text(str(v))
            )
    finally:
        stop.set()
        watcher.join()
    assert None not in seen and len(seen) > 200
    assert (target / "version").read_text() == "200"
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]  # no temporary folder left


def test_a_failing_fill_keeps_the_old_folder(tmp_path):
    target = tmp_path / "raw"
    files.replace_dir_atomic(target, lambda d: (d / "kept").write_text("yes"))

    def fail(folder):
        (folder / "partial").write_text("no")
        raise PipelineError("fetch failed")

    with pytest.raises(PipelineError):
        files.replace_dir_atomic(target, fail)
    assert [p.name for p in target.iterdir()] == ["kept"]
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "file not found"),
        (lambda p: p.mkdir(), "is a folder, expected a file"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00"), "not a text file (UTF-8 expected)"),
    ],
)
def test_reading_fails_with_one_line_naming_the_file(tmp_path, make, message):
    path = tmp_path / "x.json"
    make(path)
    with pytest.raises(PipelineError, match=re.escape(f"{path}: {message}")):
        files.read_text(path)
