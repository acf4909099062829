"""Stage plot: the data of DVC's confusion and per-class plots, and PNG images of the learning
curves, the confusion matrix and the misclassified digits."""

import bootstrap  # noqa: F401, I001  (first: this checkout's src, a clear error without the venv)

from pathlib import Path

from mnist_pipeline import files, history, plots, records, stage, tsv
from mnist_pipeline.params import load_dataset


def main() -> None:
    parser = stage.parser(__doc__)
    parser.add_argument("--history", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    class_names = list(load_dataset(args.params).class_names)

    curves = history.read(args.history)
    actual, predicted = records.read_predictions(args.predictions, class_names)
    counts = records.confusion_counts(actual, predicted, len(class_names))  # [k, k]
    test_images, _ = tsv.read(args.test)
    tables = {
        "confusion.csv": records.confusion_table(counts, class_names),
        "per_class.csv": records.per_class_table(counts, class_names),
    }
    figures = {
        "learning_curves.png": plots.learning_curves(curves),
        "confusion.png": plots.confusion_matrix(counts, class_names),
        "misclassified.png": plots.misclassified_grid(test_images, actual, predicted, class_names),
    }

    def save_all(folder: Path) -> None:
        for name, table in tables.items():
            (folder / name).write_text(records.to_csv(table), encoding="utf-8")
        for name, figure in figures.items():
            figure.savefig(folder / name, format="png")

    files.replace_dir_atomic(args.out, save_all)
    stage.log(f"plot: wrote {', '.join(str(args.out / name) for name in [*tables, *figures])}")


if __name__ == "__main__":
    stage.run(main)
