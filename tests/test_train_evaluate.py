import numpy as np
import pytest
import torch

from helpers import synthetic_split
from mnist_pipeline import evaluate, records
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.model import checkpoint_bytes
from mnist_pipeline.params import TrainParams
from mnist_pipeline.train import train

NAMES = [str(i) for i in range(10)]
QUICK = TrainParams(epochs=3, batch_size=10, lr=0.05, log_every=1)


def _train_bytes(images, labels, params):
    model, history = train(images, labels, params, log=lambda _: None)
    return checkpoint_bytes(model, {}, NAMES), records.format_train_log(history), model


def test_training_learns_the_synthetic_classes():
    images, labels = synthetic_split(200, seed=0)
    test_images, test_labels = synthetic_split(100, seed=1)
    model, history = train(images, labels, QUICK, log=lambda _: None)
    assert [h.epoch for h in history] == [1, 2, 3]
    assert history[-1].loss_sum < history[0].loss_sum
    # 20 batches of 10: the summed batch losses are 20 times their mean
    assert history[0].loss_sum == pytest.approx(20 * history[0].loss_mean, rel=1e-6)
    metrics = evaluate.split_metrics(
        evaluate.predict_logits(model, test_images), test_labels, NAMES
    )
    assert metrics["accuracy"] > 0.5  # chance is 0.1


def test_same_params_give_byte_identical_model_and_log():
    images, labels = synthetic_split(100, seed=0)
    first = _train_bytes(images, labels, QUICK)
    second = _train_bytes(images, labels, QUICK)
    assert first[0] == second[0] and first[1] == second[1]
    other_seed = _train_bytes(images, labels, TrainParams(**{**QUICK.__dict__, "seed": 1}))
    assert other_seed[0] != first[0]


def test_diverging_training_stops_naming_the_epoch():
    images, labels = synthetic_split(50, seed=0)
    with pytest.raises(PipelineError, match=r"train: diverged at epoch \d+: loss (nan|inf)"):
        train(images, labels, TrainParams(epochs=5, lr=1e6), log=lambda _: None)


def test_wilson_interval_matches_known_values():
    low, high = evaluate.wilson_interval(96, 100)
    assert (round(low, 3), round(high, 3)) == (0.902, 0.984)
    assert evaluate.wilson_interval(100, 100)[1] == 1.0


def test_split_metrics_counts_and_loss():
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0]])
    labels = np.array([0, 1, 1])
    metrics = evaluate.split_metrics(logits, labels, ["a", "b"])
    assert metrics["accuracy"] == pytest.approx(2 / 3, abs=1e-6) and metrics["n"] == 3
    assert metrics["per_class_accuracy"] == {"a": 1.0, "b": 0.5}
    expected_loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 1]))
    assert metrics["loss"] == pytest.approx(float(expected_loss), abs=1e-6)


def test_records_round_trip():
    history = [records.EpochLog(1, 230.5, 2.305), records.EpochLog(2, 100.25, 1.0025)]
    epochs, losses = records.parse_train_log(records.format_train_log(history), "log")
    assert list(epochs) == [1, 2] and list(losses) == [230.5, 100.25]
    text = records.format_confusion(np.array([0, 1]), np.array([1, 1]), ["a", "b"])
    assert text == "actual,predicted\na,b\nb,b\n"
    actual, predicted = records.parse_confusion(text, ["a", "b"], "c.csv")
    assert list(actual) == [0, 1] and list(predicted) == [1, 1]
    with pytest.raises(PipelineError, match="c.csv: unexpected entry 'x': expected pairs of a, b"):
        records.parse_confusion("actual,predicted\nx,a\n", ["a", "b"], "c.csv")


def test_better_recipes_train_reproducibly():
    images, labels = synthetic_split(100, seed=0)
    recipes = [
        TrainParams(epochs=2, batch_size=16, lr=0.003, optimizer="adamw", weight_decay=0.01,
                    schedule="onecycle", augment_shift=2, augment_rotate=10),
        TrainParams(epochs=2, batch_size=16, lr=0.05, momentum=0.9, nesterov=True,
                    weight_decay=5e-4, schedule="onecycle", augment_shift=1),
    ]  # fmt: skip
    for params in recipes:
        first, second = _train_bytes(images, labels, params), _train_bytes(images, labels, params)
        assert first[0] == second[0] and first[1] == second[1]


def test_augmentation_moves_pixels_but_keeps_shapes():
    from mnist_pipeline.model import to_input
    from mnist_pipeline.train import augment

    x = to_input(synthetic_split(8, seed=0)[0])
    generator = torch.Generator().manual_seed(0)
    assert torch.allclose(augment(x, TrainParams(), generator), x, atol=1e-4)  # no shift, no turn
    moved = augment(x, TrainParams(augment_shift=3, augment_rotate=15), generator)
    assert moved.shape == x.shape and not torch.allclose(moved, x, atol=1e-3)
    assert float(moved.min()) >= 0 and float(moved.max()) <= 1 + 1e-6


def test_cuda_is_refused_clearly_without_a_gpu():
    from mnist_pipeline.train import pick_device

    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert pick_device("auto").type == "cpu"
        with pytest.raises(PipelineError, match="train.device: 'cuda' requested, but no CUDA"):
            pick_device("cuda")
