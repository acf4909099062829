"""Stage evaluate: accuracy and loss on both subsets, the fake image, confusion pairs."""

from pathlib import Path

from mnist_pipeline import evaluate, files, model, records, stage, tsv


def main() -> None:
    parser = stage.parser(__doc__)
    parser.add_argument("--model", type=Path, default=Path("models/model.pt"))
    parser.add_argument("--train", type=Path, default=Path("data/prepared/train.tsv"))
    parser.add_argument("--test", type=Path, default=Path("data/prepared/test.tsv"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/metrics.json"))
    parser.add_argument("--fake", type=Path, default=Path("metrics/fake_image.json"))
    parser.add_argument("--confusion", type=Path, default=Path("metrics/confusion.csv"))
    args = parser.parse_args()

    net, checkpoint = model.load_checkpoint(args.model)
    class_names = checkpoint["class_names"]
    splits = {"train": tsv.read(args.train), "test": tsv.read(args.test)}
    metrics, logits = {}, {}
    for split, (images, labels) in splits.items():
        logits[split] = evaluate.predict_logits(net, images)  # [n, 10]
        metrics[split] = evaluate.split_metrics(logits[split], labels, class_names)
        stage.log(f"evaluate: {split} accuracy {metrics[split]['accuracy']:.4f} (n={len(labels)})")
    test_labels = splits["test"][1]
    test_predicted = logits["test"].argmax(dim=1).numpy()  # [n]
    fake = evaluate.fake_image_prediction(net, class_names)
    stage.log(f"evaluate: fake image predicted {fake['predicted']!r}")

    files.write_json_atomic(args.metrics, metrics)
    files.write_json_atomic(args.fake, fake)
    files.write_text_atomic(
        args.confusion, records.format_confusion(test_labels, test_predicted, class_names)
    )


if __name__ == "__main__":
    stage.run(main)
