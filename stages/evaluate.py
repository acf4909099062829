"""Stage evaluate: headline metrics of the training and test subsets, the fake image, and one
prediction per test image."""

import bootstrap  # noqa: F401, I001  (first: this checkout's src, a clear error without the venv)

from pathlib import Path

from mnist_pipeline import checkpoint, evaluate, files, inference, model, numerics, records
from mnist_pipeline import script, tsv
from mnist_pipeline.params import load_params


def main() -> None:
    parser = script.parser(__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--fake", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, required=True)
    args = parser.parse_args()

    class_names = list(load_params(args.params).data.class_names)
    saved = checkpoint.load_checkpoint(args.model)
    # As train computed: its numerics and thread count, before the first computation.
    numerics.configure(saved.numerics, saved.threads)
    net = saved.model
    train_images, train_labels = tsv.read(args.train, len(class_names))
    test_images, test_labels = tsv.read(args.test, len(class_names))
    train_logits = inference.predict_logits(net, model.to_input(train_images))  # [n, k]
    test_logits = inference.predict_logits(net, model.to_input(test_images))  # [n, k]
    train_metrics = evaluate.split_metrics(train_logits, train_labels)
    # A few headline numbers: the test split's in full, the training subset's accuracy.
    metrics = {
        "train": {key: train_metrics[key] for key in ("accuracy", "n")},
        "test": evaluate.split_metrics(test_logits, test_labels),
    }
    for split, numbers in metrics.items():
        script.log(f"evaluate: {split} accuracy {numbers['accuracy']:.4f} (n={numbers['n']})")
    test_predicted = test_logits.argmax(dim=1).numpy()  # [n]
    predictions = records.predictions_table(test_labels, test_predicted, class_names)
    fake = evaluate.fake_image_prediction(net, class_names)
    script.log(f"evaluate: fake image predicted {fake['predicted']!r}")

    files.write_json_atomic(args.metrics, metrics)
    files.write_json_atomic(args.fake, fake)
    files.write_text_atomic(args.predictions, records.to_csv(predictions))
    script.log(f"evaluate: wrote {args.metrics} and two more; peak memory {script.peak_memory()}")


if __name__ == "__main__":
    script.run(main)
