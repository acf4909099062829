"""File helpers: reading with one clear error, atomic writes of files and folders."""

import functools
import os
import re
import threading

import pytest

from mnist_pipeline import files
from mnist_pipeline.errors import PipelineError


def test_the_folder_appears_whole_never_partial(tmp_path):
    """Read as fast as possible while it is rewritten 200 times: every look finds no folder or
    a complete one (all its files, of one version), never a partial one."""
    target = tmp_path / "raw"

    names = [f"{i:02}" for i in range(20)]  # enough that a partial folder would be seen

    def fill(folder, version):
        for name in names:
            (folder / name).write_text(str(version))

    files.write_dir_atomic(target, lambda d: fill(d, 0))
    seen, stop = [], threading.Event()

    def look() -> list | None:
        """What `target` holds: its files read through one handle on the folder; None when
        there is none, or when the folder was moved away before the look ended (then its
        removal, not what `target` names, may have been seen)."""
        try:
            folder = os.open(target, os.O_RDONLY)
        except FileNotFoundError:  # between the old folder's removal and the rename
            return None
        try:
            opener = functools.partial(os.open, dir_fd=folder)
            found = [(n, open(n, opener=opener).read()) for n in sorted(os.listdir(folder))]
            return found if os.stat(target).st_ino == os.fstat(folder).st_ino else None
        except FileNotFoundError:
            return None
        finally:
            os.close(folder)

    def watch():
        while not stop.is_set():
            seen.append(look())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for version in range(1, 201):
            files.write_dir_atomic(target, lambda d, v=version: fill(d, v))
    finally:
        stop.set()
        watcher.join()
    complete = [[(name, str(v)) for name in names] for v in range(201)]
    assert sum(look is not None for look in seen) > 200
    assert all(look is None or look in complete for look in seen)
    assert (target / "19").read_text() == "200"
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]  # no temporary folder left
    assert (target.stat().st_mode & 0o777) == 0o755  # an ordinary folder, not mkdtemp's 0o700


@pytest.mark.parametrize("error", [PipelineError("fetch failed"), KeyboardInterrupt()])
def test_a_failing_or_interrupted_fill_keeps_the_old_folder_and_leaves_no_temporary(
    tmp_path, error
):
    target = tmp_path / "raw"
    files.write_dir_atomic(target, lambda d: (d / "kept").write_text("yes"))

    def fail(folder):
        (folder / "partial").write_text("no")
        raise error

    with pytest.raises(type(error)):
        files.write_dir_atomic(target, fail)
    assert [p.name for p in target.iterdir()] == ["kept"]
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]
    (target / "kept").unlink()
    target.rmdir()  # as `dvc repro` leaves it before the stage runs: no folder at all
    with pytest.raises(type(error)):
        files.write_dir_atomic(target, fail)
    assert [p.name for p in tmp_path.iterdir()] == []


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
