"""The IDX data sets the pipeline knows: file names, canonical checksums, class names."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PipelineError

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
FILE_NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


@dataclass(frozen=True)
class Dataset:
    name: str
    class_names: tuple[str, ...]
    # md5 of each *decompressed* file: the same whichever mirror or local copy it came from.
    md5: dict[str, str]


MNIST = Dataset(
    name="mnist",
    class_names=("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    md5={
        TRAIN_IMAGES: "6bbc9ace898e44ae57da46a324031adb",
        TRAIN_LABELS: "a25bea736e30d166cdddb491f175f624",
        TEST_IMAGES: "2646ac647ad5339dbf082846283269ea",
        TEST_LABELS: "27ae3e4e09519cfbb04c329615203637",
    },
)

DATASETS = {d.name: d for d in (MNIST,)}


def expected_md5(dataset: Dataset, overrides: dict[str, str]) -> dict[str, str]:
    """The dataset's canonical md5 of each file, with `fetch.md5` overrides applied."""
    for name, md5 in overrides.items():
        if name not in FILE_NAMES:
            raise PipelineError(
                f"params: fetch.md5.{name}: unknown file (known: {', '.join(FILE_NAMES)})"
            )
        if len(md5) != 32 or any(c not in "0123456789abcdef" for c in md5):
            raise PipelineError(f"params: fetch.md5.{name}: expected 32 lowercase hex digits")
    return {**dataset.md5, **overrides}
