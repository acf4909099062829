"""Stage plot: the data of DVC's confusion and per-class plots, and PNG images of the learning
curves, the confusion matrix and the misclassified digits."""

import bootstrap  # noqa: F401, I001  (first: this checkout's src, a clear error without the venv)

from pathlib import Path

from mnist_pipeline import figures, files, history, records, script, tsv
from mnist_pipeline.params import load_params


def main() -> None:
    parser = script.parser(__doc__)
    parser.add_argument("--history", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    for output in ("confusion", "per-class", "curves-png", "confusion-png", "misclassified-png"):
        parser.add_argument(f"--{output}", type=Path, required=True)
    args = parser.parse_args()
    class_names = list(load_params(args.params).data.class_names)

    curves = history.read(args.history)
    actual, predicted = records.read_predictions(args.predictions, class_names)
    counts = records.confusion_counts(actual, predicted, len(class_names))  # [k, k]
    test_images, _ = tsv.read(args.test, len(class_names))
    outputs = {
        args.confusion: records.to_csv(records.confusion_table(counts, class_names)).encode(),
        args.per_class: records.to_csv(records.per_class_table(counts, class_names)).encode(),
        args.curves_png: figures.png_bytes(figures.learning_curves(curves)),
        args.confusion_png: figures.png_bytes(figures.confusion_matrix(counts, class_names)),
        args.misclassified_png: figures.png_bytes(
            figures.misclassified_grid(test_images, actual, predicted, class_names)
        ),
    }
    # Everything is drawn before the first file is written: a failure leaves none behind.
    for path, data in outputs.items():
        files.write_bytes_atomic(path, data)
    script.log(f"plot: wrote {', '.join(map(str, outputs))}")


if __name__ == "__main__":
    script.run(main)
