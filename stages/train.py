"""Stage train: fit the CNN on the training TSV; write the checkpoint and the per-epoch log."""

import dataclasses
import resource
from pathlib import Path

from mnist_pipeline import datasets, files, model, records, stage, train, tsv
from mnist_pipeline.params import FetchParams, TrainParams, load_params


def main() -> None:
    parser = stage.parser(__doc__)
    parser.add_argument("--train", type=Path, default=Path("data/prepared/train.tsv"))
    parser.add_argument("--model", type=Path, default=Path("models/model.pt"))
    parser.add_argument("--log", type=Path, default=Path("metrics/train_log.tsv"))
    args = parser.parse_args()
    params = load_params(args.params, "train", TrainParams)
    dataset = datasets.DATASETS[load_params(args.params, "fetch", FetchParams).dataset]

    images, labels = tsv.read(args.train)
    stage.log(f"train: {len(labels)} images, {params}")
    net, history = train.train(images, labels, params, log=stage.log)
    # Written only after training finished: a diverged or interrupted run leaves no model.
    checkpoint = model.checkpoint_bytes(net, dataclasses.asdict(params), list(dataset.class_names))
    files.write_bytes_atomic(args.model, checkpoint)
    files.write_text_atomic(args.log, records.format_train_log(history))
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB
    stage.log(f"train: wrote {args.model} and {args.log}; peak memory {peak_gb:.2f} GiB")


if __name__ == "__main__":
    stage.run(main)
