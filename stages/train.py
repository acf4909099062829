"""Stage train: fit the CNN on the training TSV, validating on val.tsv after every epoch; write
the checkpoint and the per-epoch history (DVCLive)."""

import bootstrap  # noqa: F401, I001  (first: this checkout's src, a clear error without the venv)

from pathlib import Path

from mnist_pipeline import checkpoint, files, history, numerics, progress, script, train, tsv
from mnist_pipeline.params import load_params


def main() -> None:
    parser = script.parser(__doc__)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--val", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True)
    args = parser.parse_args()
    all_params = load_params(args.params)
    params, class_names = all_params.train, list(all_params.data.class_names)
    settings = numerics.run_settings(params)
    numerics.configure(settings.numerics, settings.threads)  # before the first computation

    images, labels = tsv.read(args.train, len(class_names))
    val_images, val_labels = tsv.read(args.val, len(class_names))
    script.log(f"train: {len(labels)} images, validating on {len(val_labels)}, {params}")
    display = progress.EpochProgress(
        params.epochs, all_params.log_every, script.log, progress.terminal()
    )
    with history.live_log(args.history) as live:
        net = train.train(
            images, labels, val_images, val_labels, len(class_names), params, settings, display,
            on_epoch=lambda metrics: history.log_epoch(live, metrics),
        )  # fmt: skip
    # Written only after training finished: a diverged or interrupted run leaves no model.
    saved = checkpoint.checkpoint_bytes(net, params.model_dump(), class_names)
    files.write_bytes_atomic(args.model, saved)
    script.log(f"train: wrote {args.model} and {args.history}/; peak memory {script.peak_memory()}")


if __name__ == "__main__":
    script.run(main)
