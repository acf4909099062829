import re

import numpy as np
import pytest
import torch

from helpers import SYNTHETIC_CLASSES, fit, synthetic_split, train_params
from mnist_pipeline import evaluate, inference
from mnist_pipeline.checkpoint import checkpoint_bytes
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.model import MnistCnn, to_input

pytestmark = pytest.mark.heavy  # trains models

NAMES = [str(i) for i in range(10)]
QUICK = train_params(epochs=3, batch_size=10, lr=0.05)
VAL = synthetic_split(50, seed=7)  # helpers.fit's validation set


def _train_bytes(images, labels, params):
    model, history = fit(images, labels, params)
    return checkpoint_bytes(model, {}, NAMES), history, model


def test_training_learns_the_synthetic_classes():
    images, labels = synthetic_split(200, seed=0)
    test_images, test_labels = synthetic_split(100, seed=1)
    model, history = fit(images, labels, QUICK)
    assert [h.epoch for h in history] == [1, 2, 3]
    assert history[-1].loss_sum < history[0].loss_sum
    # 20 batches of 10: the summed batch losses are 20 times their mean
    assert history[0].loss_sum == pytest.approx(20 * history[0].train_loss, rel=1e-6)
    assert history[-1].val_accuracy > history[0].val_accuracy
    assert history[-1].val_loss < history[0].val_loss
    metrics = evaluate.split_metrics(
        inference.predict_logits(model, to_input(test_images)), test_labels
    )
    assert metrics["accuracy"] > 0.5  # chance is 0.1


def test_validation_metrics_are_those_of_the_model_after_each_epoch():
    images, labels = synthetic_split(100, seed=0)
    params = train_params(epochs=1, batch_size=10, lr=0.05)
    model, history = fit(images, labels, params)
    loss, accuracy = evaluate.loss_and_accuracy(
        inference.predict_logits(model, to_input(VAL[0])), torch.from_numpy(VAL[1].astype(np.int64))
    )
    assert (history[0].val_loss, history[0].val_accuracy) == (loss, accuracy)
    assert 0 <= history[0].train_accuracy <= 1


def test_validation_does_not_change_training():
    """Validating draws no random numbers and trains nothing: another validation set gives
    the same model and the same training losses."""
    images, labels = synthetic_split(100, seed=0)
    first = _train_bytes(images, labels, QUICK)
    model, history = fit(images, labels, QUICK, val=synthetic_split(20, seed=9))
    assert checkpoint_bytes(model, {}, NAMES) == first[0]
    assert [h.train_loss for h in history] == [h.train_loss for h in first[1]]


def test_log_lines_only_for_logged_epochs():
    images, labels = synthetic_split(50, seed=0)
    lines = []
    fit(images, labels, train_params(epochs=7, lr=0.05), log=lines.append, log_every=3)
    epochs = [line.split()[1] for line in lines if line.startswith("epoch")]
    assert epochs == ["1/7", "3/7", "6/7", "7/7"]
    assert all("val acc" in line for line in lines if line.startswith("epoch"))
    assert lines[-1].startswith("train: 7 epochs in")


def test_same_params_give_byte_identical_model_and_log():
    images, labels = synthetic_split(100, seed=0)
    first = _train_bytes(images, labels, QUICK)
    second = _train_bytes(images, labels, QUICK)
    assert first[0] == second[0] and first[1] == second[1]
    other_seed = _train_bytes(images, labels, QUICK.model_copy(update={"seed": 1}))
    assert other_seed[0] != first[0]


def test_diverging_training_stops_naming_the_epoch():
    images, labels = synthetic_split(50, seed=0)
    with pytest.raises(PipelineError, match=r"train: diverged at epoch \d+: loss (nan|inf)"):
        fit(images, labels, train_params(epochs=5, lr=1e6))


def test_wilson_interval_matches_known_values():
    low, high = evaluate.wilson_interval(96, 100)
    assert (round(low, 3), round(high, 3)) == (0.902, 0.984)
    assert evaluate.wilson_interval(100, 100)[1] == 1.0


def test_split_metrics_counts_and_loss():
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0]])
    labels = np.array([0, 1, 1])
    metrics = evaluate.split_metrics(logits, labels)
    assert metrics["accuracy"] == pytest.approx(2 / 3, abs=1e-6) and metrics["n"] == 3
    expected_loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 1]))
    assert metrics["loss"] == pytest.approx(float(expected_loss), abs=1e-6)


def test_better_recipes_train_reproducibly():
    images, labels = synthetic_split(100, seed=0)
    recipes = [
        train_params(epochs=2, batch_size=16, lr=0.003, optimizer="adamw", weight_decay=0.01,
                    schedule="onecycle", augment_shift=2, augment_rotate=10),
        train_params(epochs=2, batch_size=16, lr=0.05, momentum=0.9, nesterov=True,
                    weight_decay=5e-4, schedule="onecycle", augment_shift=1),
    ]  # fmt: skip
    for params in recipes:
        first, second = _train_bytes(images, labels, params), _train_bytes(images, labels, params)
        assert first[0] == second[0] and first[1] == second[1]


def test_augmentation_moves_pixels_but_keeps_shapes():
    from mnist_pipeline.model import augment, to_input

    x = to_input(synthetic_split(8, seed=0)[0])
    generator = torch.Generator().manual_seed(0)
    assert torch.allclose(augment(x, 0, 0, generator), x, atol=1e-4)  # no shift, no turn
    moved = augment(x, 3, 15, generator)
    assert moved.shape == x.shape and not torch.allclose(moved, x, atol=1e-3)
    assert float(moved.min()) >= 0 and float(moved.max()) <= 1 + 1e-6


def test_cuda_is_refused_clearly_without_a_gpu():
    from mnist_pipeline.numerics import pick_device

    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert pick_device("auto").type == "cpu"
        with pytest.raises(PipelineError, match="train.device: 'cuda' requested, but no CUDA"):
            pick_device("cuda")


def test_on_a_terminal_a_bar_per_epoch_shows_loss_and_validation_accuracy():
    import io

    from mnist_pipeline.numerics import run_settings
    from mnist_pipeline.progress import EpochProgress
    from mnist_pipeline.train import train

    images, labels = synthetic_split(50, seed=0)
    screen, lines = io.StringIO(), []
    params = train_params(epochs=3, lr=0.05)
    progress = EpochProgress(3, 2, lines.append, screen)
    train(images, labels, *VAL, SYNTHETIC_CLASSES, params, run_settings(params), progress)
    shown = screen.getvalue()
    assert all(f"epoch {e}/3:   0%|" in shown and "/5 [" in shown for e in (1, 2, 3))  # bars
    logged = re.findall(r"epoch +(\d+/3)  loss ", shown)
    assert logged == ["1/3", "2/3", "3/3"]  # the logged epochs' lines, above the bar
    assert [line for line in lines if line.startswith("epoch")] == []  # not twice


def test_fractional_epochs_end_with_a_partial_epoch(monkeypatch):
    """1.5 epochs of 10 batches: 15 optimizer steps, the one-cycle schedule sized to them (it
    refuses a step past its total), and two epochs of history, the second over 5 batches."""
    from mnist_pipeline.progress import EpochProgress

    batches = []
    monkeypatch.setattr(EpochProgress, "begin_epoch", lambda self, epoch, n: batches.append(n))
    images, labels = synthetic_split(100, seed=0)
    params = train_params(epochs=1.5, batch_size=10, lr=0.003, optimizer="adamw",
                         schedule="onecycle")  # fmt: skip
    _, history = fit(images, labels, params)
    assert batches == [10, 5] and [h.epoch for h in history] == [1, 2]
    # The partial epoch's mean loss is over the 50 images it saw: 5 batches' summed loss / 5.
    assert history[1].train_loss == pytest.approx(history[1].loss_sum / 5, rel=1e-6)


def test_epochs_short_of_one_batch_are_refused():
    images, labels = synthetic_split(100, seed=0)
    with pytest.raises(PipelineError, match="train.epochs: 0.01 epochs of 10 batches is less"):
        fit(images, labels, train_params(epochs=0.01, batch_size=10))


def test_the_inference_path_predicts_as_before():
    """predict_logits (channels_last, batches of 256, inference_mode) against the path it
    replaced (the default memory format, batches of 1000, no_grad): in fp32 the same classes
    and logits equal to float rounding."""
    images, labels = synthetic_split(200, seed=0)
    model, _ = fit(images, labels, QUICK)
    x = to_input(synthetic_split(1200, seed=3)[0])
    before = MnistCnn()  # as loaded: the default memory format
    before.load_state_dict(model.state_dict())
    before.eval()
    with torch.no_grad():
        old = torch.cat([before(x[i : i + 1000]) for i in range(0, len(x), 1000)])
    new = inference.predict_logits(model, x)
    assert torch.equal(new.argmax(1), old.argmax(1))
    assert torch.allclose(new, old, atol=1e-4)
