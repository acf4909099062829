"""Stage prepare: train, validation and test subsets as TSV (784 pixels then the label a line)."""

import bootstrap  # noqa: F401, I001  (first: this checkout's src, a clear error without the venv)

from pathlib import Path

from mnist_pipeline import datasets, files, idx, prepare, script, tsv
from mnist_pipeline.params import load_params


def main() -> None:
    parser = script.parser(__doc__)
    parser.add_argument("--raw", type=Path, required=True)
    for split in ("train", "val", "test"):
        parser.add_argument(
            f"--{split}", type=Path, required=True, help=f"the {split} TSV to write"
        )
    args = parser.parse_args()
    all_params = load_params(args.params)
    params, num_classes = all_params.prepare, all_params.data.num_classes

    # Everything is checked and converted before the first file is written.
    images, labels = idx.read_split(
        args.raw / datasets.TRAIN_IMAGES, args.raw / datasets.TRAIN_LABELS, num_classes
    )
    train, val = prepare.hold_out(
        labels, params.n_train, params.n_val, params.selection, params.seed, num_classes
    )
    test_images, test_labels = idx.read_split(
        args.raw / datasets.TEST_IMAGES, args.raw / datasets.TEST_LABELS, num_classes
    )
    test = prepare.select(
        test_labels, params.n_test, params.selection, params.seed, num_classes, "prepare.n_test"
    )
    encoded = {
        "train": tsv.encode(images[train], labels[train]),
        "val": tsv.encode(images[val], labels[val]),
        "test": tsv.encode(test_images[test], test_labels[test]),
    }
    script.log(
        f"prepare: train {len(train)} and val {len(val)} of {len(labels)} images, "
        f"test {len(test)} of {len(test_labels)} ({params.selection})"
    )
    for split, data in encoded.items():
        path = getattr(args, split)
        files.write_bytes_atomic(path, data)
        script.log(f"prepare: wrote {path} ({len(data) / 1e6:.1f} MB)")


if __name__ == "__main__":
    script.run(main)
