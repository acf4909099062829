"""`mnist-pipeline serve`: a local page to draw a digit and see what the model makes of it.

The standard library's ThreadingHTTPServer: one page and two JSON routes for one user on
this machine need no framework, and nothing new to pin, install or keep up to date. A thread
per request; the network itself runs under a lock (one forward pass at a time, a few ms).

GET  /            the page (inline script and style: works with no internet)
GET  /api/model   the loaded model: path, recipe params, class names, test accuracy if known
POST /api/predict image bytes (PNG or JPEG) -> {"predicted", "probabilities", "input"}
"""

from __future__ import annotations

import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import torch

from . import checkpoint, inference, predict
from .errors import PipelineError
from .files import read_text

MAX_BODY = 5 * 1024 * 1024  # bytes: a photo of a digit is far smaller
PAGE_FILE = Path(__file__).with_name("serve_page.html")


class Predictor:
    """The checkpoint, loaded once. Forward passes take turns, and whoever's turn it is runs
    every image waiting at that moment in one batch: under load, 16 images in one pass cost
    about a third of 16 passes."""

    def __init__(self, model_path: Path) -> None:
        self.net, saved = checkpoint.load_checkpoint(model_path)
        self.class_names = saved["class_names"]
        self.turn = threading.Lock()  # one forward pass at a time
        self.queue_lock = threading.Lock()
        self.waiting: list[dict] = []  # {"image", "done", "result"}, in arrival order
        self.description = {
            "model": str(model_path),
            "params": saved["params"],
            "class_names": self.class_names,
            "test_accuracy": test_accuracy(model_path),
        }

    def predict(self, data: bytes) -> dict:
        """Image bytes -> the same answer as `mnist-pipeline predict` gives for that file."""
        image = predict.to_mnist(predict.decode_image(data, "upload"), "upload")  # [28, 28]
        slot = {"image": image, "done": False, "result": None}
        with self.queue_lock:
            self.waiting.append(slot)
        with self.turn:
            if not slot["done"]:  # nobody has taken it into their batch: take all waiting
                with self.queue_lock:
                    batch, self.waiting = self.waiting, []
                images = np.stack([s["image"] for s in batch])  # [b, 28, 28]
                results = inference.classify(self.net, images, self.class_names)
                for waiting, result in zip(batch, results, strict=True):
                    waiting["result"], waiting["done"] = result, True
        return {**slot["result"], "input": image.tolist()}


def test_accuracy(model_path: Path) -> float | None:
    """The test accuracy in the project's metrics/metrics.json beside models/, if there."""
    metrics_path = Path(model_path).resolve().parent.parent / "metrics" / "metrics.json"
    try:
        return float(json.loads(read_text(metrics_path))["test"]["accuracy"])
    except (PipelineError, ValueError, KeyError, TypeError):
        return None


def make_handler(predictor: Predictor, page: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "mnist-pipeline"
        protocol_version = "HTTP/1.1"  # keep-alive: a page's requests reuse one connection
        # Headers and body go out as two writes; with Nagle's algorithm the second waits for
        # the client's delayed ACK, 40 ms on every kept-alive request.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base's name)
            pass  # quiet: the terminal shows the address and errors only

        def send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def send_json(self, status: int, obj: object) -> None:
            self.send(status, json.dumps(obj).encode(), "application/json")

        def error(self, status: int, message: str) -> None:
            self.send_json(status, {"error": message})

        def do_GET(self) -> None:  # noqa: N802 (the base class's name)
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self.send(HTTPStatus.OK, page, "text/html; charset=utf-8")
            elif path == "/api/model":
                self.send_json(HTTPStatus.OK, predictor.description)
            else:  # nothing else is served: no files, so no path can reach one
                self.error(HTTPStatus.NOT_FOUND, f"not found: {path}")

        def do_POST(self) -> None:  # noqa: N802
            if self.path.split("?", 1)[0] != "/api/predict":
                return self.error(HTTPStatus.NOT_FOUND, f"not found: {self.path}")
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                return self.error(HTTPStatus.LENGTH_REQUIRED, "a Content-Length is required")
            if length > MAX_BODY:  # refused before a byte of the body is read
                self.close_connection = True
                return self.error(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY:,} bytes"
                )
            data = self.rfile.read(length)
            try:
                self.send_json(HTTPStatus.OK, predictor.predict(data))
            except PipelineError as exc:
                self.error(HTTPStatus.BAD_REQUEST, str(exc))

    return Handler


def make_server(predictor: Predictor, host: str, port: int) -> ThreadingHTTPServer:
    page = PAGE_FILE.read_bytes()

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # the default 5 drops connections when 16 clients arrive at once

    return Server((host, port), make_handler(predictor, page))


def serve(model_path: Path, host: str, port: int) -> None:
    """Load the model (a bad one ends here, before any socket is opened), then serve until
    Ctrl-C."""
    # One image at a time: a single thread is fastest for it (0.9 against 1.7 ms with two),
    # and leaves the other core to the request threads.
    torch.set_num_threads(1)
    predictor = Predictor(model_path)
    try:
        server = make_server(predictor, host, port)
    except OSError as exc:
        raise PipelineError(f"serve: cannot listen on {host}:{port} ({exc.strerror})") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: listening on {host}: anyone who can reach this machine can use the "
            "page, which has no authentication",
            file=sys.stderr,
            flush=True,
        )
    shown_host = f"[{host}]" if ":" in host else host
    print(
        f"serving {model_path} at http://{shown_host}:{server.server_port}/ (Ctrl-C stops)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
