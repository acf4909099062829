import io

import numpy as np
import pytest

from helpers import SYNTHETIC_CLASSES as K
from helpers import synthetic_split
from mnist_pipeline import tsv
from mnist_pipeline.errors import PipelineError


def test_round_trip_and_exact_format(tmp_path):
    images, labels = synthetic_split(30, seed=3)
    images[0, 0, :3] = [0, 9, 255]  # one-, two- and three-digit values
    path = tmp_path / "x.tsv"
    path.write_bytes(tsv.encode(images, labels))
    data = path.read_bytes()
    assert data.count(b"\n") == 30 and data.endswith(b"\n") and b"\r" not in data
    first = data.split(b"\n")[0].split(b"\t")
    assert len(first) == 785 and first[:3] == [b"0", b"9", b"255"]
    assert first[-1] == str(labels[0]).encode()
    got_images, got_labels = tsv.read(path, K)
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)


def test_matches_numpy_savetxt_and_loadtxt(tmp_path):
    images, labels = synthetic_split(25, seed=4)
    table = np.concatenate([images.reshape(25, 784), labels[:, None]], axis=1)
    expected = io.BytesIO()
    np.savetxt(expected, table, fmt="%d", delimiter="\t")
    data = tsv.encode(images, labels)
    assert data == expected.getvalue()
    loaded = np.loadtxt(io.BytesIO(data), delimiter="\t", comments="#")
    assert np.array_equal(loaded, table)


def test_encode_spans_several_chunks():
    images, labels = synthetic_split(tsv.ROWS_PER_CHUNK * 2 + 3, seed=5)
    got_images, got_labels = tsv.decode(tsv.encode(images, labels), "x", K)
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)


def _lines(n=3):
    images, labels = synthetic_split(n, seed=6)
    return tsv.encode(images, labels).split(b"\n")[:-1]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda line: line.rsplit(b"\t", 1)[0], "x.tsv:2: 784 fields, expected 785"),
        (lambda line: line + b"\t1", "x.tsv:2: 786 fields, expected 785"),
        (
            lambda line: b"256" + line[line.index(b"\t") :],
            "x.tsv:2: pixel 1 is '256', expected 0-255",
        ),
        (lambda line: b"-1" + line[line.index(b"\t") :], "x.tsv:2: pixel 1 is '-1'"),
        (lambda line: b"a" + line[line.index(b"\t") :], "x.tsv:2: pixel 1 is 'a'"),
        (lambda line: line.rsplit(b"\t", 1)[0] + b"\t10", "x.tsv:2: label is '10', expected 0-9"),
    ],
)
def test_first_bad_line_is_named(edit, message):
    lines = _lines()
    lines[1] = edit(lines[1])
    with pytest.raises(PipelineError) as error:
        tsv.decode(b"\n".join(lines) + b"\n", "x.tsv", K)
    assert str(error.value).startswith(message)


def test_empty_file_and_missing_newline():
    with pytest.raises(PipelineError, match="x.tsv: empty file"):
        tsv.decode(b"", "x.tsv", K)
    with pytest.raises(PipelineError, match="x.tsv:3: last line does not end with a newline"):
        tsv.decode(b"\n".join(_lines()), "x.tsv", K)


def test_empty_lines_hold_no_image_and_keep_the_numbering():
    lines = _lines(3)
    data = lines[0] + b"\n\n" + lines[1] + b"\n" + lines[2] + b"\n"  # line 2 empty
    images, _ = tsv.decode(data, "x.tsv", K)
    assert len(images) == 3 and tsv.image_lines(data) == [1, 3, 4]
    assert tsv.image_lines(tsv.encode(*synthetic_split(3, seed=1))) == [1, 2, 3]
    bad = lines[0] + b"\n\n" + lines[1] + b"\n" + lines[2][:-2] + b"\n"  # line 4 cut short
    with pytest.raises(PipelineError, match="x.tsv:4: 784 fields"):  # the file's own line
        tsv.decode(bad, "x.tsv", K)
    with pytest.raises(PipelineError, match="x.tsv: no image lines, only empty ones"):
        tsv.decode(b"\n\n", "x.tsv", K)


def test_labels_run_to_the_data_set_s_class_count():
    """26 classes (letters, say): label 25 is read, 26 is named as the first bad one."""
    images, _ = synthetic_split(2, seed=7)
    data = tsv.encode(images, np.array([25, 0], dtype=np.uint8))
    assert tsv.decode(data, "x.tsv", 26)[1].tolist() == [25, 0]
    with pytest.raises(PipelineError, match="^x.tsv:1: label is '25', expected 0-9$"):
        tsv.decode(data, "x.tsv", 10)
