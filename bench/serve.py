"""Benchmark: `mnist-pipeline serve` under load, against `mnist-pipeline predict` per image.

Starts the server as its own process on 127.0.0.1 (a free port), sends a fixed number of
predictions from concurrent clients (bounded: every request has a timeout, and the server is
stopped at the end whatever happens), and prints errors, latency percentiles and the
server's resident memory before and after. The baseline, in the same run: classifying the
same image with the command line, a process per image, as one would without the server.

    python bench/serve.py [--model models/model.pt] [--requests 500] [--clients 16]
"""

from __future__ import annotations

import argparse
import http.client
import io
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/model.pt"))
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    if not args.model.is_file():
        sys.exit(f"error: {args.model}: no model; run `make repro` first or pass --model")
    buffer = io.BytesIO()  # the design's digit, black on white at 140x140, as a user's PNG
    Image.fromarray(255 - fake_image()).resize((140, 140)).save(buffer, format="PNG")
    body = buffer.getvalue()

    command = [sys.executable, "-m", "mnist_pipeline", "serve", "--port", "0"]
    server = subprocess.Popen(
        [*command, "--model", str(args.model)], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(server.stdout.readline().split(":")[2].split("/")[0])
        post(connect(port), body)  # one warm-up request
        before = resident_mib(server.pid)
        results: list[tuple[int, float]] = []
        per_client = [args.requests // args.clients] * args.clients
        for i in range(args.requests % args.clients):
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
            thread.join(timeout=TIMEOUT_S * args.requests)
        wall = time.perf_counter() - start
        after = resident_mib(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()

    latencies = sorted(seconds for _, seconds in results)
    errors = sum(status != 200 for status, _ in results)
    p50 = statistics.median(latencies)
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    print(
        f"{len(results)} predictions from {args.clients} clients in {wall:.1f} s, {errors} errors"
    )
    print(
        f"latency: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms"
    )
    print(f"server resident memory: {before:.0f} MiB before, {after:.0f} MiB after")

    with tempfile.TemporaryDirectory() as folder:  # the baseline: a process per image
        image = Path(folder) / "digit.png"
        image.write_bytes(body)
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "mnist_pipeline", "predict", "--model", str(args.model),
                 str(image)],
                check=True, capture_output=True,
            )  # fmt: skip
            runs.append(time.perf_counter() - start)
    baseline = statistics.median(runs)
    print(f"`mnist-pipeline predict` on one image: median {baseline * 1000:.0f} ms of 3")
    print(f"a prediction through the server (p50) is {baseline / p50:.0f}x faster")


if __name__ == "__main__":
    main()
