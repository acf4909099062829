"""What every script shares, a stage's or an `mnist-pipeline` command's: argument parsing
basics, logging, and clean failure."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path


def log(message: str) -> None:
    """Progress as whole lines, flushed, so it reads the same on a terminal and in a log file."""
    print(message, flush=True)


def peak_memory() -> str:
    """This process's peak resident memory so far, e.g. "0.74 GiB" (Linux counts it in KiB)."""
    import resource

    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"


def parser(description: str | None) -> argparse.ArgumentParser:
    """The stage's argument parser; every path is required, since dvc.yaml passes them all."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", type=Path, required=True, help="the params file")
    return p


def run(main: Callable[[], None]) -> None:
    """Run a stage's or a command's main; a user's mistake (PipelineError) ends it with one
    line, exit 1."""
    from .errors import PipelineError

    try:
        main()
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        sys.exit(130)
    except BrokenPipeError:  # `mnist-pipeline predict ... | head`: the reader has had enough
        # Python's documented recipe: point stdout at devnull so its final flush is silent.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
