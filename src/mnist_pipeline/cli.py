"""The `mnist-pipeline` command (also `python -m mnist_pipeline`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import files, stage
from .errors import PipelineError


def report(metrics_path: Path) -> None:
    """Print where a run's results are and its accuracies."""
    try:
        metrics = json.loads(files.read_text(metrics_path))
        lines = [
            f"{split:>5} accuracy {m['accuracy']:.4f}  "
            f"(95% CI {m['accuracy_ci95'][0]:.3f}-{m['accuracy_ci95'][1]:.3f}, n={m['n']})"
            for split, m in metrics.items()
        ]
    except (ValueError, KeyError, TypeError, IndexError):
        raise PipelineError(f"{metrics_path}: not a metrics file written by the evaluate stage")
    folder = metrics_path.parent
    print(f"Results: metrics {metrics_path}, plots {folder / 'plots'}/, model models/model.pt")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mnist-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    report_parser = commands.add_parser("report", help="print a finished run's results")
    report_parser.add_argument("--metrics", type=Path, default=Path("metrics/metrics.json"))
    args = parser.parse_args(argv)
    if args.command == "report":
        stage.run(lambda: report(args.metrics))
