"""Benchmark: `mnist-pipeline serve` under load, against `mnist-pipeline predict` per image.

Starts the server as its own process on 127.0.0.1 (a free port), sends a fixed number of
predictions from concurrent clients, each on its own kept-alive connection as a browser tab
(bounded: every request has a timeout, and the server is stopped at the end whatever
happens), and prints errors, throughput, server CPU per prediction, latency percentiles and
the server's resident memory before and after. The baseline, in the same run: classifying
the same image with the command line, a process per image, as one would without the server,
and the ratio of its time to the server's median latency.

    python bench/serve.py [--model models/model.pt] [--requests 500] [--clients 16] [--rounds 1]
"""

from __future__ import annotations

import http.client
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from PIL import Image

from common import ROOT, alternate, options
from mnist_pipeline.evaluate import fake_image

TIMEOUT_S = 30


def post(connection: http.client.HTTPConnection, body: bytes) -> tuple[int, float]:
    """One prediction: its HTTP status (0: failed) and seconds."""
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


def usage(pid: int) -> tuple[float, float]:
    """The process's resident memory (MiB) and the CPU seconds (user and system) it used."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    rss = next(line for line in status if line.startswith("VmRSS:"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return int(rss.split()[1]) / 1024, cpu


def load(model: Path, body: bytes, requests: int, clients: int) -> dict:
    """Start the server, send `requests` predictions from `clients` threads, stop it. Returns
    the results [(status, seconds)], their wall seconds, the server's memory (MiB) before and
    after, and its CPU seconds."""
    command = [sys.executable, "-m", "mnist_pipeline", "serve", "--port", "0", "--model", model]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline().split(":")[2].split("/")[0])

        def client(count: int) -> list[tuple[int, float]]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
            results = [post(connection, body) for _ in range(count)]
            connection.close()
            return results

        client(1)  # a warm-up request
        before, cpu = usage(server.pid)
        counts = [requests // clients + (i < requests % clients) for i in range(clients)]
        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            results = [result for done in pool.map(client, counts) for result in done]
        wall = time.perf_counter() - start
        after, cpu_after = usage(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    return {"results": results, "wall": wall, "before": before, "after": after,
            "cpu": cpu_after - cpu}  # fmt: skip


def main() -> None:
    args = options(__doc__, model=ROOT / "models/model.pt", requests=500, clients=16, rounds=1)
    if not args.model.is_file():
        sys.exit(f"error: {args.model}: no model; run `make repro` first or pass --model")
    buffer = io.BytesIO()  # the design's digit, black on white at 140x140, as a user's PNG
    Image.fromarray(255 - fake_image()).resize((140, 140)).save(buffer, format="PNG")
    runs = [load(args.model, buffer.getvalue(), args.requests, args.clients)
            for _ in range(args.rounds)]  # fmt: skip
    # The rounds pooled.
    latencies = sorted(s for run in runs for _, s in run["results"])
    errors = sum(status != 200 for run in runs for status, _ in run["results"])
    n = len(latencies)
    ms = [1000 * latencies[max(0, round(q * n) - 1)] for q in (0.5, 0.95, 1)]  # nearest rank
    cpu_ms = sum(run["cpu"] for run in runs) / n * 1000
    print(f"server: {n} predictions from {args.clients} clients ({len(runs)} rounds), {errors} "
          f"errors, {n / sum(run['wall'] for run in runs):.0f} predictions/s, {cpu_ms:.1f} ms "
          "of server CPU each")  # fmt: skip
    print(f"  latency: p50 {ms[0]:.1f} ms, p95 {ms[1]:.1f} ms, max {ms[2]:.1f} ms")
    after = max(run["after"] for run in runs)
    print(f"  server resident memory: {runs[0]['before']:.0f} MiB before, {after:.0f} MiB after")
    with tempfile.TemporaryDirectory() as folder:  # the baseline: a process per image
        image = Path(folder) / "digit.png"
        image.write_bytes(buffer.getvalue())
        command = [sys.executable, "-m", "mnist_pipeline", "predict", "--model", args.model, image]
        predict = partial(subprocess.run, command, check=True, capture_output=True)
        seconds, _ = alternate({"predict": predict}, 3)
    predict_ms = statistics.median(seconds["predict"]) * 1000
    print(f"`mnist-pipeline predict` on one image: median {predict_ms:.0f} ms of 3")
    print(f"a prediction through the server (p50) is {predict_ms / ms[0]:.0f}x faster")


if __name__ == "__main__":
    main()
