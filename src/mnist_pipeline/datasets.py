"""The IDX data sets the pipeline knows: file names, canonical checksums, class names (whose
count is the network's number of outputs)."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PipelineError

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
FILE_NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
IMAGE_SIDE = 28  # both data sets: 28x28 greyscale images
# The decompressed size of each file (the IDX header fixes it): 60,000 and 10,000 images of
# 28x28 bytes, or as many one-byte labels. The same for MNIST and Fashion-MNIST; fetch reads
# and inflates no more than this, so a compressed bomb or an endless download is refused.
FILE_BYTES = {
    TRAIN_IMAGES: 16 + 60_000 * IMAGE_SIDE**2,
    TRAIN_LABELS: 8 + 60_000,
    TEST_IMAGES: 16 + 10_000 * IMAGE_SIDE**2,
    TEST_LABELS: 8 + 10_000,
}


@dataclass(frozen=True)
class Dataset:
    name: str
    class_names: tuple[str, ...]  # by label: labels run 0 to num_classes - 1
    # md5 of each *decompressed* file: the same whichever mirror or local copy it came from.
    md5: dict[str, str]

    @property
    def num_classes(self) -> int:
        """The number of classes: the labels' range, and the network's outputs."""
        return len(self.class_names)


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

FASHION_MNIST = Dataset(
    name="fashion-mnist",
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),  # fmt: skip
    md5={
        TRAIN_IMAGES: "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        TRAIN_LABELS: "9018921c3c673c538a1fc5bad174d6f9",
        TEST_IMAGES: "8181f5470baa50b63fa0f6fddb340f0a",
        TEST_LABELS: "15d484375f8d13e6eb1aabb0c3f46965",
    },
)

DATASETS = {d.name: d for d in (MNIST, FASHION_MNIST)}


def owner(name: str, md5: str) -> str | None:
    """The known data set whose canonical file `name` has this md5, if any."""
    return next((d.name for d in DATASETS.values() if d.md5[name] == md5), None)


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
