"""Stage plot: PNG images of the loss curve, the confusion matrix and misclassified digits."""

from pathlib import Path

from mnist_pipeline import datasets, files, plots, records, stage, tsv
from mnist_pipeline.params import FetchParams, load_params


def main() -> None:
    parser = stage.parser(__doc__)
    parser.add_argument("--log", type=Path, default=Path("metrics/train_log.tsv"))
    parser.add_argument("--confusion", type=Path, default=Path("metrics/confusion.csv"))
    parser.add_argument("--test", type=Path, default=Path("data/prepared/test.tsv"))
    parser.add_argument("--out", type=Path, default=Path("metrics/plots"))
    args = parser.parse_args()
    dataset = datasets.DATASETS[load_params(args.params, "fetch", FetchParams).dataset]
    class_names = list(dataset.class_names)

    epochs, loss_sum = records.parse_train_log(files.read_text(args.log), str(args.log))
    confusion = files.read_text(args.confusion)
    actual, predicted = records.parse_confusion(confusion, class_names, str(args.confusion))
    test_images, _ = tsv.read(args.test)
    figures = {
        "loss.png": plots.loss_curve(epochs, loss_sum),
        "confusion.png": plots.confusion_matrix(actual, predicted, class_names),
        "misclassified.png": plots.misclassified_grid(test_images, actual, predicted, class_names),
    }

    def save_all(folder: Path) -> None:
        for name, figure in figures.items():
            figure.savefig(folder / name, format="png")

    files.replace_dir_atomic(args.out, save_all)
    stage.log(f"plot: wrote {', '.join(str(args.out / name) for name in figures)}")


if __name__ == "__main__":
    stage.run(main)
