"""The `mnist-pipeline` command (also `python -m mnist_pipeline`).

mnist-pipeline report                 a finished run's results
mnist-pipeline predict IMAGE... [--model MODEL] [--json]
mnist-pipeline serve [--model MODEL] [--host 127.0.0.1] [--port 8000]
                                      a local page: draw a digit, see the model's answer
mnist-pipeline plots-template NODE_MODULES OUT   the offline page for `dvc plots show`
mnist-pipeline push-runs [-r REMOTE]  DVC's run-cache and every run's outputs, to a remote
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .. import files, script
from ..errors import PipelineError


def report(metrics_path: Path) -> None:
    """Print where a run's results are and its accuracies."""
    try:
        metrics = json.loads(files.read_text(metrics_path))
        lines = []
        for split, m in metrics.items():
            interval = (
                f"95% CI {m['accuracy_ci95_low']:.3f}-{m['accuracy_ci95_high']:.3f}, "
                if "accuracy_ci95_low" in m
                else ""
            )
            lines.append(f"{split:>5} accuracy {m['accuracy']:.4f}  ({interval}n={m['n']})")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise PipelineError(
            f"{metrics_path}: not a metrics file written by the evaluate stage"
        ) from None
    print(f"Results in {metrics_path}:")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mnist-pipeline", description="MNIST CNN pipeline tools")
    commands = parser.add_subparsers(dest="command", required=True)
    report_parser = commands.add_parser("report", help="print a finished run's results")
    report_parser.add_argument(
        "--metrics", type=Path, help="a metrics file (default: the evaluate stage's, from dvc.yaml)"
    )
    predict_parser = commands.add_parser(
        "predict", help="classify PNG/JPEG images, or the lines of a prepared .tsv file"
    )
    predict_parser.add_argument(
        "inputs", nargs="+", type=Path, metavar="FILE",
        help="an image (any format Pillow reads, up to 50 MP) or a prepared .tsv file",
    )  # fmt: skip
    predict_parser.add_argument(
        "--model", type=Path,
        help="a checkpoint written by the train stage (default: the train stage's, from dvc.yaml)",
    )  # fmt: skip
    predict_parser.add_argument("--json", action="store_true", help="one JSON object a line")
    serve_parser = commands.add_parser(
        "serve", help="a local page to draw a digit and see what the model makes of it"
    )
    serve_parser.add_argument(
        "--model", type=Path,
        help="a checkpoint written by the train stage (default: the train stage's, from dvc.yaml)",
    )  # fmt: skip
    serve_parser.add_argument(
        "--host", default="127.0.0.1",
        help="address to listen on (default: %(default)s, this machine only)",
    )  # fmt: skip
    serve_parser.add_argument("--port", type=int, default=8000, help="(default: %(default)s)")
    template_parser = commands.add_parser(
        "plots-template", help="write an offline HTML template for `dvc plots show`"
    )
    template_parser.add_argument("node_modules", type=Path)
    template_parser.add_argument("out", type=Path)
    push_runs_parser = commands.add_parser(
        "push-runs", help="push DVC's run-cache with every run's outputs (dvc push sends neither)"
    )
    push_runs_parser.add_argument("-r", "--remote", help="a DVC remote (default: the default)")
    args = parser.parse_args(argv)

    def default(name: str) -> Path:  # dvc.yaml's path, when the option was not given
        from .project import paths

        return Path(paths()[name])

    if args.command == "report":
        script.run(lambda: report(args.metrics or default("metrics")))
    elif args.command == "predict":

        def run_predict() -> None:
            from .predict import predict_files  # torch and PIL load only for this command

            if not predict_files(args.inputs, args.model or default("model"), args.json):
                sys.exit(1)

        script.run(run_predict)
    elif args.command == "serve":
        from .serve import serve

        script.run(lambda: serve(args.model or default("model"), args.host, args.port))
    elif args.command == "plots-template":

        def write_template() -> None:
            from .plots_html import offline_template

            files.write_text_atomic(args.out, offline_template(args.node_modules))
            print(f"wrote {args.out}")

        script.run(write_template)
    elif args.command == "push-runs":

        def push_runs() -> None:
            from .runcache import push_runs

            records, pushed, incomplete = push_runs(args.remote)
            print(f"push-runs: {records} run records, {pushed} output files pushed")
            if incomplete:
                print(
                    f"push-runs: {incomplete} runs' files are gone from the cache (dvc gc): "
                    "a clone runs those again", file=sys.stderr,
                )  # fmt: skip

        script.run(push_runs)
