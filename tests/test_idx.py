import functools
import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import SYNTHETIC_CLASSES as K
from helpers import synthetic_split
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.idx import decompress, encode_idx, parse_images, parse_labels, read_split


def test_round_trip_images_and_labels():
    images, labels = synthetic_split(7, seed=0)
    assert np.array_equal(parse_images(encode_idx(images), "x"), images)
    assert np.array_equal(parse_labels(encode_idx(labels), "x", K), labels)


def test_magic_numbers_are_the_idx_ones():
    images, labels = synthetic_split(1, seed=0)
    assert encode_idx(images)[:4] == b"\x00\x00\x08\x03"
    assert encode_idx(labels)[:4] == b"\x00\x00\x08\x01"


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    images, labels = synthetic_split(5, seed=0)
    # Names lie on purpose: the gzipped one has no .gz, the raw one has.
    (tmp_path / "images").write_bytes(gzip.compress(encode_idx(images)))
    (tmp_path / "labels.gz").write_bytes(encode_idx(labels))
    got_images, got_labels = read_split(tmp_path / "images", tmp_path / "labels.gz", K)
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)


LABELS = encode_idx(np.arange(10, dtype=np.uint8))
IMAGES = encode_idx(np.zeros((2, 28, 28), dtype=np.uint8))
labels_of_10 = functools.partial(parse_labels, num_classes=10)


@pytest.mark.parametrize(
    "data, parse, message",
    [
        (b"\x00\x00", labels_of_10, "too short"),
        (b"\x01" + LABELS[1:], labels_of_10, "first two bytes must be zero"),
        (LABELS[:2] + b"\x0d" + LABELS[3:], labels_of_10, "type byte is 0x0d"),
        (IMAGES, labels_of_10, "3 dimensions, expected 1"),
        (LABELS, parse_images, "1 dimensions, expected 3"),
        (LABELS[:6], labels_of_10, "truncated IDX header"),
        (LABELS[:-1], labels_of_10, "(truncated)"),
        (LABELS + b"\x00", labels_of_10, "(trailing bytes)"),
        (encode_idx(np.array([1, 10], dtype=np.uint8)), labels_of_10, "label 10 at index 1"),
        (encode_idx(np.zeros((1, 28, 27), dtype=np.uint8)), parse_images, "28x27, expected 28x28"),
        (IMAGES[:4] + (2**32 - 1).to_bytes(4, "big") + IMAGES[8:], parse_images, "expected"),
    ],
)
def test_invalid_idx_is_a_clear_error(data, parse, message):
    with pytest.raises(PipelineError, match="^f.idx: ") as error:
        parse(data, "f.idx")
    assert message in str(error.value)


def test_labels_run_to_the_data_set_s_class_count():
    data = encode_idx(np.array([0, 25], dtype=np.uint8))
    assert parse_labels(data, "x", 26).tolist() == [0, 25]
    with pytest.raises(PipelineError, match="^x: label 26 at index 1, expected 0-25$"):
        parse_labels(encode_idx(np.array([0, 26], dtype=np.uint8)), "x", 26)


def test_counts_that_disagree(tmp_path):
    (tmp_path / "i").write_bytes(encode_idx(np.zeros((3, 28, 28), dtype=np.uint8)))
    (tmp_path / "l").write_bytes(encode_idx(np.zeros(2, dtype=np.uint8)))
    with pytest.raises(PipelineError, match="3 images but .* has 2 labels"):
        read_split(tmp_path / "i", tmp_path / "l", K)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(PipelineError, match="nope: file not found"):
        read_split(tmp_path / "nope", tmp_path / "nope", K)


@pytest.mark.parametrize("damage", ["bad crc", "cut short"])
def test_corrupt_gzip_is_an_error(damage):
    packed = bytearray(gzip.compress(LABELS))
    if damage == "bad crc":
        packed[-8] ^= 0xFF  # the CRC32 of the trailer
    else:
        packed = packed[: len(packed) // 2]
    with pytest.raises(PipelineError, match="f.gz: corrupt gzip stream"):
        decompress(bytes(packed), "f.gz")


def _mutations():
    valid = st.sampled_from([LABELS, IMAGES, gzip.compress(LABELS)])
    flips = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 255)), max_size=4)
    cut = st.one_of(st.none(), st.integers(0, 120))
    extra = st.binary(max_size=8)

    @st.composite
    def mutated(draw):
        data = bytearray(draw(valid))
        for position, value in draw(flips):
            if position < len(data):
                data[position] = value
        end = draw(cut)
        return bytes(data[:end] if end is not None else data) + draw(extra)

    return st.one_of(mutated(), st.binary(max_size=200))


@settings(max_examples=400, deadline=None)
@given(_mutations(), st.sampled_from([parse_images, labels_of_10]))
def test_fuzzed_bytes_give_arrays_or_pipeline_errors(data, parse):
    try:
        array = parse(decompress(data, "fuzz"), "fuzz")
    except PipelineError:
        return
    assert array.dtype == np.uint8
