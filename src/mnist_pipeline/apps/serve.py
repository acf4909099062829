"""`mnist-pipeline serve`: a local page to draw a digit and see what the model makes of it.

A Starlette app on uvicorn, with httptools (Node.js's llhttp) parsing: the HTTP parsing,
framing and error answers (a malformed or conflicting Content-Length is a 400, a wrong method
a 405) come from libraries that the Python web world relies on, not from code of ours; the
keep-alive timeout and the graceful shutdown are uvicorn's settings. The deadline for a
request's headers, which uvicorn has no setting for, is HeadersDeadline; the one for its body
is predict_route's. One event loop serves every connection; the work on images runs in one
worker thread, a batch at a time (Predictor).

GET  /              the page (inline script and style: works with no internet)
GET  /api/model     the loaded model: path, recipe params, class names, test accuracy if known
POST /api/predict   image bytes (PNG or JPEG) -> {"predicted", "probabilities", "input"}
GET  /openapi.json  the API's description (serve_openapi.json)

Limits: a body of at most MAX_BODY bytes, an image of at most preprocess.MAX_PIXELS pixels,
headers within HEADERS_TIMEOUT_S seconds and the body within BODY_TIMEOUT_S more.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .. import checkpoint, inference, numerics
from ..errors import PipelineError
from . import preprocess, project

MAX_BODY = 5 * 1024 * 1024  # bytes: a photo of a digit is far smaller
# Bytes of a refused body read and thrown away before the connection is closed: closing on
# unread data makes the kernel send a reset, and the client loses the 413 answer with it.
DRAIN_LIMIT = 4 * MAX_BODY
HEADERS_TIMEOUT_S = 10.0  # a client stalled in its headers is dropped after this...
BODY_TIMEOUT_S = 10.0  # ...and one stalled in its body after this more: 20 s at the most
KEEP_ALIVE_S = 5  # an idle kept-alive connection is closed after this
PAGE_FILE = Path(__file__).with_name("serve_page.html")
OPENAPI_FILE = Path(__file__).with_name("serve_openapi.json")
NO_STORE = {"Cache-Control": "no-store"}


class Predictor:
    """The checkpoint, loaded once, and the batching of concurrent requests: one batch at a
    time runs in a worker thread, and it takes every image that came in while the previous
    one ran (16 images in one forward pass cost about a third of 16 passes). One thread, not
    one a request: with a single event loop serving all connections, every extra thread
    holding the interpreter lock delays the loop, and with it every request."""

    def __init__(self, model_path: Path) -> None:
        saved = checkpoint.load_checkpoint(model_path)
        self.numerics = saved.numerics
        self.net, self.class_names = saved.model, saved.class_names
        self.waiting: list[tuple[bytes, asyncio.Future]] = []  # in arrival order
        self.worker: asyncio.Task | None = None  # runs the batches while any are waiting
        found = project.evaluation(model_path)  # (accuracy, n) if this model's, else why not
        self.description = {
            "model": str(model_path),
            "params": saved.params,
            "class_names": self.class_names,
            "test_accuracy": found[0] if isinstance(found, tuple) else None,
        }

    async def predict(self, data: bytes) -> bytes:
        """Image bytes -> the JSON answer `mnist-pipeline predict` gives for that file:
        {"predicted", "probabilities", "input"}. Raises ImageTooLarge and PipelineError."""
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((data, future))
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self.run_batches())
        return await future

    async def run_batches(self) -> None:
        """Until none are waiting: take all waiting, answer them in the worker thread."""
        while self.waiting:
            batch, self.waiting = self.waiting, []
            answers: Sequence[bytes | Exception]
            try:
                answers = await run_in_threadpool(self.answer_all, [data for data, _ in batch])
            except Exception as exc:  # a bug, not a bad image: each request answers 500
                answers = [exc] * len(batch)
            for (_, future), answer in zip(batch, answers, strict=True):
                if future.done():  # cancelled: its request is gone
                    continue
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)

    def answer_all(self, uploads: list[bytes]) -> list[bytes | PipelineError]:
        """A batch of image bytes -> for each, its JSON answer or the error that refuses it.
        Decoding, the network and the JSON all run here, in the worker thread."""
        images: list[np.ndarray | PipelineError] = []
        for data in uploads:
            try:
                images.append(
                    preprocess.to_mnist(preprocess.decode_image(data, "upload"), "upload")
                )
            except PipelineError as exc:
                images.append(exc)
        good = [image for image in images if not isinstance(image, PipelineError)]
        results = iter(
            inference.classify(self.net, np.stack(good), self.class_names) if good else []
        )  # one forward pass: [b, 28, 28] -> b answers
        return [
            image
            if isinstance(image, PipelineError)
            else json.dumps({**next(results), "input": image.tolist()}).encode()
            for image in images
        ]


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The API's error answer: {"error": one line}."""
    return JSONResponse({"error": message}, status, headers={**NO_STORE, **(headers or {})})


class TooLarge(JSONResponse):
    """413 for a body over MAX_BODY, answered at once; then the rest of the body (`rest`; None
    when the client waits to be invited to send it) is read and thrown away, up to DRAIN_LIMIT
    bytes and until `deadline` (event-loop time), before the connection closes: a client still
    sending (urllib, a browser's fetch) then reads the answer instead of a reset."""

    def __init__(self, rest: AsyncIterator[bytes] | None, deadline: float) -> None:
        super().__init__(
            {"error": f"body over {MAX_BODY:,} bytes"}, 413, {**NO_STORE, "Connection": "close"}
        )
        self.rest, self.deadline = rest, deadline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 413, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": True})
        if self.rest is not None:
            drained = 0
            with contextlib.suppress(TimeoutError, ClientDisconnect):
                async with asyncio.timeout_at(self.deadline):
                    async for chunk in self.rest:
                        drained += len(chunk)
                        if drained > DRAIN_LIMIT:
                            break
        await send({"type": "http.response.body", "body": b""})


async def predict_route(request: Request) -> Response:
    # One deadline for the body, and for the rest of a refused one.
    deadline = asyncio.get_running_loop().time() + BODY_TIMEOUT_S
    body = request.stream()
    length = request.headers.get("content-length", "")  # uvicorn refused malformed ones
    if length.isdigit() and int(length) > MAX_BODY:  # refused before a byte of it is read...
        # ...and a client that sent "Expect: 100-continue" sends none until invited: reading
        # the body to throw it away would invite it.
        invited = request.headers.get("expect", "").lower() != "100-continue"
        return TooLarge(body if invited else None, deadline)
    chunks, size = [], 0
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in body:
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_BODY:
                    return TooLarge(body, deadline)
    except TimeoutError:
        message = f"the body took over {BODY_TIMEOUT_S:g} s to arrive"
        return error(408, message, {"Connection": "close"})
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is left to read it
    try:
        answer = await request.app.state.predictor.predict(b"".join(chunks))
    except preprocess.ImageTooLarge as exc:
        return error(413, str(exc))
    except PipelineError as exc:
        return error(400, str(exc))
    return Response(answer, media_type="application/json", headers=NO_STORE)


async def model_route(request: Request) -> Response:
    return JSONResponse(request.app.state.predictor.description, headers=NO_STORE)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's 404 and 405, as the API's JSON errors (with the 405's Allow header)."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:  # nothing but the routes is served: no path reaches a file
        return error(404, f"not found: {request.url.path}")
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed on {request.url.path} (use {allowed})"
        return error(405, message, exc.headers)
    return error(exc.status_code, str(exc.detail), exc.headers)


def make_app(predictor: Predictor) -> Starlette:
    """The ASGI app: the page, the API and its OpenAPI description."""
    page, openapi = PAGE_FILE.read_bytes(), OPENAPI_FILE.read_bytes()

    async def page_route(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=NO_STORE)

    async def openapi_route(request: Request) -> Response:
        return Response(openapi, media_type="application/json")

    app = Starlette(
        routes=[
            Route("/", page_route, methods=["GET"]),
            Route("/index.html", page_route, methods=["GET"]),
            Route("/api/model", model_route, methods=["GET"]),
            Route("/api/predict", predict_route, methods=["POST"]),
            Route("/openapi.json", openapi_route, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
    )
    app.state.predictor = predictor
    return app


class HeadersDeadline(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools), plus a deadline of HEADERS_TIMEOUT_S for a
    request's headers, from the connection's opening or from the first byte after an answer,
    that closes the connection; cancelled when the headers are in (predict_route's deadline
    covers the body)."""

    # uvicorn has no setting for this (--timeout-request-start, its issue 157, was never
    # added), and the ASGI app sees a request only once its headers are in: without it, a
    # client that sends nothing, or its headers a byte at a time, holds its connection forever.
    deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.deadline = self.loop.call_later(HEADERS_TIMEOUT_S, transport.close)

    def data_received(self, data: bytes) -> None:
        if self.deadline is None and self.cycle is not None and self.cycle.response_complete:
            self.deadline = self.loop.call_later(HEADERS_TIMEOUT_S, self.transport.close)
        super().data_received(data)

    def on_headers_complete(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        super().on_headers_complete()


class Server:
    """uvicorn serving the app on a socket already bound: run() until Ctrl-C (the command),
    or start() and stop() around a thread of its own (tests, benchmarks)."""

    def __init__(self, app: Starlette, sock: socket.socket) -> None:
        config = uvicorn.Config(
            app,
            http=HeadersDeadline,
            lifespan="off",
            log_config=None,  # no logging setup of uvicorn's: its warnings are one line
            access_log=False,  # quiet: the terminal shows the address and errors only
            timeout_keep_alive=KEEP_ALIVE_S,
            timeout_graceful_shutdown=5,  # Ctrl-C waits this long for requests in flight
        )
        self.uvicorn = uvicorn.Server(config)
        self.socket = sock
        self.port = sock.getsockname()[1]
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        """Serve until Ctrl-C or SIGTERM; uvicorn then re-raises the signal it caught, which is a
        KeyboardInterrupt unless SIGINT was ignored when the process began."""
        self.uvicorn.run(sockets=[self.socket])

    def start(self) -> None:
        """Serve in a daemon thread; returns once it accepts connections (or 10 s passed)."""
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.uvicorn.started and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        self.uvicorn.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.socket.close()


def make_server(predictor: Predictor, host: str, port: int) -> Server:
    """A server for `predictor` listening on host:port (0: a free port). Raises OSError if it
    cannot listen there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not left 0: asyncio turns off Nagle's algorithm (TCP_NODELAY) only on
    # sockets that say so, and the connections accepted here inherit it. With Nagle, the
    # body of every kept-alive answer waited for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen()  # now: a client told the address connects before uvicorn's loop runs
    except OSError:
        sock.close()
        raise
    return Server(make_app(predictor), sock)


def serve(model_path: Path, host: str, port: int) -> None:
    """Load the model (a bad one ends here, before any socket is opened), then serve until
    Ctrl-C."""
    predictor = Predictor(model_path)
    # The checkpoint's numerics, but one thread: one image at a time is fastest on a single
    # thread (docs/performance.md), which leaves the other core to the event loop.
    numerics.configure(predictor.numerics, 1)
    print(f"serve: {project.describe(model_path)}", file=sys.stderr, flush=True)
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
    print(f"serving {model_path} at http://{shown_host}:{server.port}/ (Ctrl-C stops)", flush=True)
    try:
        server.run()  # returns, or re-raises the Ctrl-C it caught, once the server has stopped
    except KeyboardInterrupt:
        pass  # (not re-raised where SIGINT was ignored when the process began: a background job)
    finally:
        server.socket.close()
    print("stopped", flush=True)
