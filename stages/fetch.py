"""Stage fetch: the four IDX files of the data set params.yaml names, md5-verified and
decompressed into one folder."""

import bootstrap  # noqa: F401, I001  (first: this checkout's src, a clear error without the venv)

import os
from pathlib import Path

from mnist_pipeline import datasets, fetch, files, script
from mnist_pipeline.params import load_params


def main() -> None:
    parser = script.parser(__doc__)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    params = load_params(args.params)

    dataset = params.data
    md5 = datasets.expected_md5(dataset, params.fetch.md5)
    sources = fetch.sources_with_env(params.fetch.sources.get(dataset.name, []), os.environ)
    listed = "".join(f"\n  {source}" for source in sources)
    script.log(f"fetch: {dataset.name}, {len(md5)} files; sources, in order:{listed}")
    # Built in a temporary folder, renamed into place whole: never a partial set DVC could record.
    hint = fetch.offline_hint(os.environ, dataset.name)
    files.write_dir_atomic(
        args.out, lambda tmp: fetch.fetch_all(md5, sources, tmp, script.log, hint)
    )
    script.log(f"fetch: wrote {args.out}/")


if __name__ == "__main__":
    script.run(main)
