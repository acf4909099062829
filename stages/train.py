"""Stage train: fit the CNN on the training TSV, validating on val.tsv after every epoch; write
the checkpoint and the per-epoch history (DVCLive).

With train.processes > 1 it runs itself as that many ranks through torch's launcher, or joins
as one rank when a launcher (torchrun) started it; rank 0 alone writes (docs/scale.md)."""

import bootstrap  # noqa: F401, I001  (first: this checkout's src, a clear error without the venv)

import contextlib
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
    machines = distributed.nodes(os.environ, params.processes)  # PET_NNODES ...: docs/scale.md
    if distributed.should_launch(os.environ, params.processes):
        where = f" as node {machines.rank} of {machines.count}" if machines.count > 1 else ""
        script.log(f"train: starting {params.processes // machines.count} processes{where}")
        # Rank 0 logs the history as it trains: when the launch fails, its part goes.
        with history.removed_on_failure(args.history):
            distributed.launch(params, [str(Path(__file__).resolve()), *sys.argv[1:]], machines)
        return
    with distributed.errors_to_launcher(os.environ):
        settings = numerics.run_settings(params)
        numerics.configure(settings.numerics, settings.threads)  # before the first computation
        writer = settings.ranks.rank == 0  # the others write nothing, print nothing
        log = script.log if writer else lambda line: None
        images, labels = tsv.read(args.train, len(class_names))
        val_images, val_labels = tsv.read(args.val, len(class_names))
        log(f"train: {len(labels)} images, validating on {len(val_labels)}, {params}")
        display = progress.EpochProgress(
            params.epochs, all_params.log_every, log, progress.terminal() if writer else None
        )
        live_log = history.live_log(args.history) if writer else contextlib.nullcontext()
        with distributed.process_group(settings.ranks, settings.device), live_log as live:
            net = train.train(
                images, labels, val_images, val_labels, len(class_names), params, settings,
                display, on_epoch=lambda metrics: history.log_epoch(live, metrics),
            )  # fmt: skip
        if writer:  # written only after training finished: a failed run leaves no model
            saved = checkpoint.checkpoint_bytes(net, params.model_dump(), class_names)
            files.write_bytes_atomic(args.model, saved)
            log(f"train: wrote {args.model} and {args.history}/; peak {script.peak_memory()}")


if __name__ == "__main__":
    script.run(main)
