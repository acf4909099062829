"""Share DVC's run-cache with every run's outputs, so a teammate's `dvc exp run` of params
someone already ran restores the results instead of training again.

`dvc push --run-cache` sends only the run records (.dvc/cache/runs): since the index-based
push of DVC 3 it no longer sends the outputs those records name, and an output git tracks
(`cache: false` metrics and plots) is sent by no `dvc push` at all. Without them a clone finds
the record but not the files, and runs the stage. DVC keeps a copy of every recorded output
in the local cache; this pushes those too, through DVC's own transfer.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..errors import PipelineError


def push_runs(remote: str | None = None) -> tuple[int, int, int]:
    """Push the files every run record of this repository's cache names, then the records,
    to `remote` (None: the default remote). The files of a run that `dvc gc` has removed from
    the cache cannot go: a clone runs that one again. Returns (records, files pushed, runs
    without their files); PipelineError when no remote is set or a transfer fails."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo() as repo:
            runs = Path(repo.stage_cache.cache_dir)
            records = [(p.parent.name, p.name) for p in runs.glob("*/*/*") if p.is_file()]
            used: defaultdict = defaultdict(set)
            incomplete = 0
            for record in records:
                try:
                    found = repo.stage_cache.get_used_objs([record])
                except DvcException:  # an output's directory listing is gone from the cache
                    incomplete += 1
                    continue
                for odb, objs in found.items():
                    used[odb] |= objs
            pushed = 0
            for odb, objs in used.items():
                result = repo.cloud.push(objs, remote=remote, odb=odb)
                if result.failed:
                    raise PipelineError(f"push-runs: {len(result.failed)} files failed to push")
                pushed += len(result.transferred)
            repo.stage_cache.push(remote)  # the records, once their files are there
    except PipelineError:
        raise
    except Exception as exc:  # DVC's, and its file systems' (S3, SSH...): one line, no traceback
        raise PipelineError(f"push-runs: {type(exc).__name__}: {exc}") from None
    return len(records), pushed, incomplete
