import numpy as np
import pytest

from mnist_pipeline.errors import PipelineError
from mnist_pipeline.prepare import select

LABELS = np.random.default_rng(0).integers(0, 10, size=500).astype(np.uint8)


def test_first():
    assert np.array_equal(select(LABELS, 7, "first", 0, 10, "k"), np.arange(7))


@pytest.mark.parametrize("selection", ["random", "stratified"])
def test_seeded_selections_are_deterministic_sorted_and_unique(selection):
    chosen = select(LABELS, 100, selection, 3, 10, "k")
    assert np.array_equal(chosen, select(LABELS, 100, selection, 3, 10, "k"))
    assert not np.array_equal(chosen, select(LABELS, 100, selection, 4, 10, "k"))
    assert len(np.unique(chosen)) == 100 and np.all(np.diff(chosen) > 0)


def test_stratified_takes_an_equal_number_per_class():
    chosen = select(LABELS, 100, "stratified", 0, 10, "k")
    assert np.array_equal(np.bincount(LABELS[chosen], minlength=10), np.full(10, 10))


def test_errors_name_the_param():
    with pytest.raises(
        PipelineError, match="params: prepare.n_train: 501 requested, but the split holds 500"
    ):
        select(LABELS, 501, "first", 0, 10, "prepare.n_train")
    with pytest.raises(PipelineError, match="prepare.n_test: 15 is not a multiple of 10"):
        select(LABELS, 15, "stratified", 0, 10, "prepare.n_test")
    with pytest.raises(PipelineError, match="of class 0 requested"):
        select(np.ones(100, dtype=np.uint8), 20, "stratified", 0, 10, "k")


def test_stratified_takes_the_data_set_s_class_count():
    """26 classes: n must be a multiple of 26, and each class gets n / 26."""
    labels = np.random.default_rng(1).integers(0, 26, size=2000).astype(np.uint8)
    chosen = select(labels, 52, "stratified", 0, 26, "k")
    assert np.array_equal(np.bincount(labels[chosen], minlength=26), np.full(26, 2))
    with pytest.raises(PipelineError, match="k: 50 is not a multiple of 26, the data set's"):
        select(labels, 50, "stratified", 0, 26, "k")
