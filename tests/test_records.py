"""The record tables stages hand to each other (pandas) and the training history (DVCLive)."""

import numpy as np
import pytest

from mnist_pipeline import history, records
from mnist_pipeline.errors import PipelineError


@pytest.mark.parametrize(
    "text, message",
    [
        ("line,actual,predicted\n1,zero,one\n2,zero,ten\n", "unknown class 'ten'"),
        ("line,actual,predicted\n1,zero,one\n3,one,one\n", "lines must count 1, 2, 3"),
        ("line,actual\n1,zero\n", "malformed, expected columns line, actual, predicted"),
        ("line,actual,predicted\nx,zero,one\n", "malformed, expected columns"),
        ("line,actual,predicted\n1,zero\n", "malformed, expected columns"),
        ("", "malformed, expected columns"),
    ],
)
def test_a_malformed_predictions_table_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "predictions.csv"
    path.write_text(text)
    with pytest.raises(PipelineError, match=f"{path}: .*{message}"):
        records.read_predictions(path, ["zero", "one"])


def test_record_tables_round_trip(tmp_path):
    names = ["zero", "one", "two"]
    actual, predicted = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    path = tmp_path / "predictions.csv"
    path.write_text(records.to_csv(records.predictions_table(actual, predicted, names)))
    assert path.read_text().splitlines()[:2] == ["line,actual,predicted", "1,zero,zero"]
    back = records.read_predictions(path, names)
    assert list(back[0]) == [0, 1, 1, 2] and list(back[1]) == [0, 1, 2, 2]
    counts = records.confusion_counts(actual, predicted, 3)
    confusion = records.to_csv(records.confusion_table(counts, names)).splitlines()
    assert len(confusion) == 1 + 9 and confusion[1] == "zero,zero,1" and confusion[6] == "one,two,1"
    per_class = records.to_csv(records.per_class_table(counts, names)).splitlines()
    assert per_class == ["class,accuracy,images", "zero,1,1", "one,0.5,2", "two,1,1"]


def test_a_history_with_a_missing_or_uneven_curve_is_one_clear_error(tmp_path):
    folder = tmp_path / "train"
    for name in history.CURVES:
        path = folder / "plots" / "metrics" / f"{name}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"step\t{name.split('/')[1]}\n1\t0.5\n2\t0.25\n")
    assert list(history.read(folder)["epoch"]) == [1, 2]
    (folder / "plots/metrics/val/loss.tsv").write_text("step\tloss\n1\t0.5\n")
    with pytest.raises(PipelineError, match="cover different epochs"):
        history.read(folder)
    (folder / "plots/metrics/val/loss.tsv").unlink()
    with pytest.raises(PipelineError, match="val/loss.tsv: file not found"):
        history.read(folder)


def test_a_history_logged_twice_is_one_clear_error(tmp_path):
    # What every rank of a distributed run logging into one folder writes: each epoch twice.
    folder = tmp_path / "train"
    metrics = [history.EpochMetrics(epoch, 1.0, 0.5, 0.8, 0.4, 0.9) for epoch in (1, 2)]
    with history.live_log(folder) as live:
        for epoch_metrics in metrics:
            history.log_epoch(live, epoch_metrics)
            history.log_epoch(live, epoch_metrics)
    with pytest.raises(PipelineError, match=r"train/loss.tsv: epoch 1 logged more than once"):
        history.read(folder)
