"""Stage train: fit the CNN on the training TSV, validating on val.tsv after every epoch; write
the checkpoint and the per-epoch history (DVCLive).

With train.processes > 1 it runs itself as that many ranks through torch's launcher, or joins
as one rank when a launcher (torchrun) started it; rank 0 alone writes (docs/scale.md)."""

import bootstrap  # noqa: F401, I001  (first: this checkout's src, a clear error without the venv)

import os
import sys
from pathlib import Path

from mnist_pipeline import checkpoint, distributed, files, history, numerics, progress, script
from mnist_pipeline import train, tsv
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
    if distributed.should_launch(os.environ, params.processes):
        script.log(f"train: starting {params.processes} processes")
        distributed.launch(params, [str(Path(__file__).resolve()), *sys.argv[1:]])
        return
    with distributed.errors_to_launcher(os.environ):
        settings = numerics.run_settings(params)
        numerics.configure(settings.numerics, settings.threads)  # before the first computation
        with distributed.process_group(settings.ranks, settings.device):
            fit(args, all_params, class_names, settings)


def fit(args, all_params, class_names: list[str], settings: numerics.RunSettings) -> None:
    """Train in this process (one rank of several, or the only one); rank 0 writes."""
    params = all_params.train
    writer = settings.ranks.rank == 0
    images, labels = tsv.read(args.train)
    val_images, val_labels = tsv.read(args.val)
    log = script.log if writer else lambda line: None
    log(f"train: {len(labels)} images, validating on {len(val_labels)}, {params}")
    display = progress.EpochProgress(
        params.epochs, all_params.log_every, log, progress.terminal() if writer else None
    )
    if not writer:
        train.train(images, labels, val_images, val_labels, params, settings, display)
        return
    with history.live_log(args.history) as live:
        net = train.train(
            images, labels, val_images, val_labels, params, settings, display,
            on_epoch=lambda metrics: history.log_epoch(live, metrics),
        )  # fmt: skip
    # Written only after training finished: a diverged or interrupted run leaves no model.
    saved = checkpoint.checkpoint_bytes(net, params.model_dump(), class_names)
    files.write_bytes_atomic(args.model, saved)
    log(f"train: wrote {args.model} and {args.history}/; peak memory {script.peak_memory()}")


if __name__ == "__main__":
    script.run(main)
