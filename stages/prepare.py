"""Stage prepare: train and test subsets as TSV (784 pixels then the label, one image a line)."""

from pathlib import Path

from mnist_pipeline import datasets, files, idx, prepare, stage, tsv
from mnist_pipeline.params import PrepareParams, load_params


def main() -> None:
    parser = stage.parser(__doc__)
    parser.add_argument("--raw", type=Path, default=Path("data/raw"))
    parser.add_argument("--out", type=Path, default=Path("data/prepared"))
    args = parser.parse_args()
    params = load_params(args.params, "prepare", PrepareParams)

    splits = {  # output name: (images file, labels file, size param)
        "train": (datasets.TRAIN_IMAGES, datasets.TRAIN_LABELS, "n_train"),
        "test": (datasets.TEST_IMAGES, datasets.TEST_LABELS, "n_test"),
    }
    encoded = {}  # everything is checked and converted before the first file is written
    for split, (images_file, labels_file, key) in splits.items():
        images, labels = idx.read_split(args.raw / images_file, args.raw / labels_file)
        n = getattr(params, key)
        chosen = prepare.select(labels, n, params.selection, params.seed, f"prepare.{key}")
        encoded[split] = tsv.encode(images[chosen], labels[chosen])
        stage.log(f"prepare: {split}: {n} of {len(labels)} images ({params.selection})")
    for split, data in encoded.items():
        files.write_bytes_atomic(args.out / f"{split}.tsv", data)
        stage.log(f"prepare: wrote {args.out / f'{split}.tsv'} ({len(data) / 1e6:.1f} MB)")


if __name__ == "__main__":
    stage.run(main)
