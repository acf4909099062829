"""Benchmark: `mnist-pipeline serve` under load, against `mnist-pipeline predict` per image.

Starts the server as its own process on 127.0.0.1 (a free port), sends a fixed number of
predictions from concurrent clients (bounded: every request has a timeout, and the server is
stopped at the end whatever happens), and prints errors, latency percentiles and the
server's resident memory before and after. The baselines, in the same run: classifying the
same image with the command line, a process per image, as one would without the server; and,
with --old-src, the same load on an earlier version's server, run from that version's source
(a worktree of its commit), the two taking turns round by round so that both see the same
machine; then p95 latency and throughput of both, and their ratios.

    git worktree add /tmp/serve-old 90eab96     # the hand-written http.server version
    python bench/serve.py [--model models/model.pt] [--requests 500] [--clients 16]
                          [--old-src /tmp/serve-old/src] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

from mnist_pipeline.evaluate import fake_image

TIMEOUT_S = 30


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def post(connection: http.client.HTTPConnection, body: bytes) -> tuple[int, float]:
    """One prediction on a kept-alive connection, as a page sends them; status 0: failed."""
    start = time.perf_counter()
    try:
        connection.request("POST", "/api/predict", body=body)
        response = connection.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException):
        connection.close()  # the next request reconnects
        status = 0
    return status, time.perf_counter() - start


def connect(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[max(0, round(fraction * len(sorted_values)) - 1)]


def run_load(src: Path | None, model: Path, body: bytes, requests: int, clients: int) -> dict:
    """Start a server (this checkout's, or the one in `src`), send `requests` predictions from
    `clients` threads on kept-alive connections, stop it. Returns {"results": [(status,
    seconds)], "wall": seconds, "before"/"after": resident MiB}."""
    env = dict(os.environ)
    if src is not None:  # the other version's package first on the path
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "mnist_pipeline", "serve", "--port", "0"]
    server = subprocess.Popen(
        [*command, "--model", str(model)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        port = int(server.stdout.readline().split(":")[2].split("/")[0])
        post(connect(port), body)  # one warm-up request
        before, cpu = resident_mib(server.pid), cpu_seconds(server.pid)
        results: list[tuple[int, float]] = []
        per_client = [requests // clients] * clients
        for i in range(requests % clients):
            per_client[i] += 1

        def client(count: int) -> None:  # a browser tab: one connection, kept alive
            connection = connect(port)
            for _ in range(count):
                results.append(post(connection, body))
            connection.close()

        threads = [threading.Thread(target=client, args=(n,)) for n in per_client]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=TIMEOUT_S * requests)
        wall = time.perf_counter() - start
        after, cpu = resident_mib(server.pid), cpu_seconds(server.pid) - cpu
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    return {"results": results, "wall": wall, "before": before, "after": after, "cpu": cpu}


def summary(runs: list[dict]) -> dict:
    """The rounds pooled: latencies in seconds, throughput in predictions per second."""
    latencies = sorted(seconds for run in runs for _, seconds in run["results"])
    return {
        "count": len(latencies),
        "errors": sum(status != 200 for run in runs for status, _ in run["results"]),
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "max": latencies[-1],
        "throughput": len(latencies) / sum(run["wall"] for run in runs),
        "cpu": sum(run["cpu"] for run in runs) / len(latencies),
        "before": runs[0]["before"],
        "after": max(run["after"] for run in runs),
    }


def show(name: str, s: dict, clients: int, rounds: int) -> None:
    print(
        f"{name}: {s['count']} predictions from {clients} clients ({rounds} rounds), "
        f"{s['errors']} errors, {s['throughput']:.0f} predictions/s, "
        f"{s['cpu'] * 1000:.1f} ms of server CPU each"
    )
    print(
        f"  latency: p50 {s['p50'] * 1000:.1f} ms, p95 {s['p95'] * 1000:.1f} ms, "
        f"max {s['max'] * 1000:.1f} ms"
    )
    print(f"  server resident memory: {s['before']:.0f} MiB before, {s['after']:.0f} MiB after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/model.pt"))
    parser.add_argument("--requests", type=int, default=500, help="per server and round")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--old-src", type=Path,
        help="the src folder of an earlier version, whose server is measured too",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=1, help="turns each server takes")
    args = parser.parse_args()
    if not args.model.is_file():
        sys.exit(f"error: {args.model}: no model; run `make repro` first or pass --model")
    if args.old_src is not None and not (args.old_src / "mnist_pipeline").is_dir():
        sys.exit(f"error: {args.old_src}: no mnist_pipeline package in it")
    buffer = io.BytesIO()  # the design's digit, black on white at 140x140, as a user's PNG
    Image.fromarray(255 - fake_image()).resize((140, 140)).save(buffer, format="PNG")
    body = buffer.getvalue()

    servers = {"this server": None}
    if args.old_src is not None:
        servers = {"old server": args.old_src, **servers}
    runs: dict[str, list[dict]] = {name: [] for name in servers}
    for _ in range(args.rounds):
        for name, src in servers.items():
            runs[name].append(run_load(src, args.model, body, args.requests, args.clients))
    summaries = {name: summary(server_runs) for name, server_runs in runs.items()}
    for name, s in summaries.items():
        show(name, s, args.clients, args.rounds)
    if args.old_src is not None:
        new, old = summaries["this server"], summaries["old server"]
        print(
            f"this server against the old: p95 latency {new['p95'] / old['p95']:.2f}x, "
            f"throughput {new['throughput'] / old['throughput']:.2f}x"
        )

    with tempfile.TemporaryDirectory() as folder:  # the baseline: a process per image
        image = Path(folder) / "digit.png"
        image.write_bytes(body)
        runs_s = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "mnist_pipeline", "predict", "--model", str(args.model),
                 str(image)],
                check=True, capture_output=True,
            )  # fmt: skip
            runs_s.append(time.perf_counter() - start)
    baseline = statistics.median(runs_s)
    p50 = summaries["this server"]["p50"]
    print(f"`mnist-pipeline predict` on one image: median {baseline * 1000:.0f} ms of 3")
    print(f"a prediction through this server (p50) is {baseline / p50:.0f}x faster")


if __name__ == "__main__":
    main()
