"""Share DVC's run-cache with every run's outputs, so a teammate's `dvc exp run` of params
someone already ran restores the results instead of training again.

`dvc push --run-cache` sends only the run records (.dvc/cache/runs): since the index-based
push of DVC 3 it no longer sends the outputs those records name, and an output git tracks
(`cache: false` metrics and plots) is sent by no `dvc push` at all. Without them a clone finds
the record but not the files, and runs the stage. DVC keeps a copy of every recorded output
in the local cache; this pushes those too, through DVC's own transfer.
"""

from __future__ import annotations

from ..errors import PipelineError


def push_runs(remote: str | None = None) -> tuple[int, int]:
    """Push every run record of this repository's cache and the outputs it names to `remote`
    (None: the default remote). Returns (records, output files pushed); PipelineError when no
    remote is set or a transfer fails."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo() as repo:
            records = repo.stage_cache.push(remote)  # [(stage key, run), ...]
            pushed = 0
            for odb, objs in repo.stage_cache.get_used_objs(records).items():
                result = repo.cloud.push(objs, remote=remote, odb=odb)
                if result.failed:
                    raise PipelineError(f"push-runs: {len(result.failed)} files failed to push")
                pushed += len(result.transferred)
    except DvcException as exc:
        raise PipelineError(f"push-runs: {exc}") from None
    return len(records), pushed
