"""Obtain the four IDX files from mirrors or local folders, verified by md5 of their content.

Each file is tried against every source in order. A source that fails (HTTP error, missing
file, wrong checksum, connection cut too often, too many bytes) is reported and the next one
tried; only when all fail does fetching stop, with one message listing what was tried and why
each failed. HTTP goes through requests; retries, the bounds and the md5 check are ours (see
docs/data.md for why not a download library).

Memory stays bounded whatever a source sends: files are read and gunzipped (Python's gzip) as a
stream, refused as soon as they pass the file's known size (datasets.FILE_BYTES): a gzip bomb
or an endless response costs at most that much.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import time
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

import requests
import urllib3

from .datasets import FILE_BYTES, owner
from .errors import PipelineError
from .idx import GZIP_MAGIC

TIMEOUT_S = 30
# A folder or base URL tried before the params' sources, for offline machines (any data set).
SOURCE_VARIABLE = "DATASET_SOURCE"
ATTEMPTS = 3  # per URL, for connections cut mid-file
CHUNK = 1 << 16
SESSION = requests.Session()  # one connection to a mirror for its four files (keep-alive)
Log = Callable[[str], None]


class SourceFailed(Exception):
    """This source cannot provide this file; the next source is tried."""


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def download_limit(size: int) -> int:
    """The most bytes read from a source for a file of `size` bytes: gzip cannot make a file
    much larger than this (stored blocks add 5 bytes in 64 KiB), and a raw copy is smaller."""
    return size + size // 1000 + (1 << 16)


class Bounded(io.RawIOBase):
    """A source's raw bytes, refused once more than `limit` have come; `on_read(received)`
    after each read (progress). For `inflate`."""

    def __init__(
        self, raw: io.RawIOBase | io.BufferedIOBase, limit: int, on_read: Callable[[int], None]
    ) -> None:
        self.raw, self.limit, self.on_read, self.received = raw, limit, on_read, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        # Fills the buffer unless the source ends: a network read may return a single byte,
        # and inflate must see the first two to know a gzip stream.
        view, n = memoryview(buffer), 0
        while n < len(view) and (got := self.raw.readinto(view[n:])):
            n += got
        self.received += n
        if self.received > self.limit:
            raise SourceFailed(f"larger than {self.limit:,} bytes, the most this file can take")
        self.on_read(self.received)
        return n


def inflate(raw: io.RawIOBase, size: int) -> bytes:
    """The file `raw` holds, gunzipped (Python's gzip module) when it starts with the gzip magic:
    at most `size` bytes come out, so a gzip bomb stops there; SourceFailed when it would be
    more or the gzip stream is corrupt."""
    stream = io.BufferedReader(raw, CHUNK)
    gzipped = stream.peek(2)[:2] == GZIP_MAGIC
    source: io.BufferedIOBase = gzip.GzipFile(fileobj=stream) if gzipped else stream
    try:
        data = source.read(size + 1)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise SourceFailed(f"corrupt gzip stream ({exc})") from None
    if len(data) > size:
        what = "expands past" if gzipped else "is larger than"
        raise SourceFailed(f"{what} {size:,} bytes, the most this file can hold")
    return data


def fetch_file(name: str, md5: str, sources: list[str], log: Log, hint: str = "") -> bytes:
    """Return the decompressed bytes of IDX file `name` whose md5 equals `md5`; when no source
    has it, a PipelineError lists each source with its reason, one a line, then `hint`."""
    failures = []
    for source in sources:
        try:
            data = _read_url(source, name, log) if is_url(source) else _read_dir(source, name)
            actual = hashlib.md5(data).hexdigest()
            if actual != md5:
                raise SourceFailed(f"md5 {actual}, expected {md5}{_whose(name, actual, md5)}")
        except (SourceFailed, PipelineError) as exc:
            reason = str(exc)
            log(f"  {name}: {source}: {reason}; trying the next source")
            failures.append(f"{source} ({reason})")
            continue
        log(f"  {name}: verified md5 {md5} from {source}")
        return data
    tried = "".join(f"\n  {failure}" for failure in failures) or "\n  (no sources given)"
    raise PipelineError(f"fetch: no source provided a valid {name}:{tried}\n{hint}")


def _whose(name: str, actual: str, expected: str) -> str:
    """When the file found is another known data set's (a source variable left pointing at
    it): ": the file is mnist's train-images-idx3-ubyte, not fashion-mnist's"; else nothing."""
    found, wanted = owner(name, actual), owner(name, expected)
    if found is None:
        return ""
    return f": the file is {found}'s {name}" + (f", not {wanted}'s" if wanted else "")


def _read_dir(source: str, name: str) -> bytes:
    folder = Path(source)
    if not folder.is_dir():
        raise SourceFailed("is a file, not a folder" if folder.exists() else "does not exist")
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            try:
                with open(candidate, "rb", buffering=0) as raw:
                    limit = download_limit(FILE_BYTES[name])
                    return inflate(Bounded(raw, limit, lambda received: None), FILE_BYTES[name])
            except OSError as exc:
                raise SourceFailed(f"cannot read {candidate.name}: {exc.strerror}") from None
    raise SourceFailed(f"neither {name}.gz nor {name} found")


def _read_url(base: str, name: str, log: Log) -> bytes:
    url = f"{base.rstrip('/')}/{name}.gz"
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _download(url, FILE_BYTES[name], log)
        except requests.ConnectionError as exc:  # refused, unknown host: not worth a retry
            raise SourceFailed(f"unreachable ({_root(exc)})") from None
        except (requests.Timeout, urllib3.exceptions.HTTPError) as exc:  # cut mid-file, timeout
            reason = f"{type(exc).__name__}: {_root(exc)}"
            if attempt == ATTEMPTS:
                raise SourceFailed(f"download failed {ATTEMPTS} times, last: {reason}") from None
            log(f"  {url}: {reason}; retry {attempt}/{ATTEMPTS - 1}")
    raise AssertionError("unreachable")


def _root(exc: BaseException) -> BaseException:
    """The error under requests' and urllib3's wrappers: "[Errno 111] Connection refused"."""
    while (inner := exc.__cause__ or exc.__context__) is not None:
        exc = inner
    return exc


def _download(url: str, size: int, log: Log) -> bytes:
    """GET `url`, inflating it as it arrives into at most `size` bytes; log progress as plain
    lines (readable in a log file)."""
    start = time.monotonic()
    limit = download_limit(size)
    with SESSION.get(url, stream=True, timeout=TIMEOUT_S) as response:
        if not response.ok:
            raise SourceFailed(f"HTTP {response.status_code} {response.reason}")
        total = int(response.headers.get("Content-Length") or 0)
        if total > limit:  # refused before a byte of the body is read
            raise SourceFailed(f"response of {total:,} bytes announced, over {limit:,}")
        quarter = 0

        def report(received: int) -> None:  # at 25, 50 and 75 %
            nonlocal quarter
            if total and received < total and received * 4 // total > quarter:
                quarter = received * 4 // total
                log(f"  {url}: {_progress(received, total, start)}")

        # The body as sent: a Content-Encoding is not undone (inflate bounds what gzip makes).
        # urllib3 2 raises IncompleteRead for a body shorter than its Content-Length: retried.
        body = Bounded(response.raw, limit, report)
        data = inflate(body, size)
    log(f"  {url}: {_progress(body.received, total, start)}")
    return data


def _progress(received: int, total: int, start: float) -> str:
    elapsed = max(time.monotonic() - start, 1e-6)
    done = f"{received / 1e6:.1f}" + (f"/{total / 1e6:.1f}" if total else "")
    return f"{done} MB, {received / 1e6 / elapsed:.1f} MB/s"


def fetch_all(
    expected_md5: dict[str, str], sources: list[str], out_dir: Path, log: Log, hint: str = ""
) -> None:
    """Write every verified, decompressed file of `expected_md5` into `out_dir`."""
    for name, md5 in expected_md5.items():
        (Path(out_dir) / name).write_bytes(fetch_file(name, md5, sources, log, hint))


def sources_with_env(sources: list[str], environ: Mapping[str, str]) -> list[str]:
    """The params' sources, preceded by the one $DATASET_SOURCE names, if set."""
    override = environ.get(SOURCE_VARIABLE, "").strip()
    return list(dict.fromkeys([override, *sources] if override else sources))  # each once


def offline_hint(environ: Mapping[str, str], dataset: str) -> str:
    """What to do when no source worked, for the data set `dataset` asks for."""
    if override := environ.get(SOURCE_VARIABLE, "").strip():
        return (
            f"{SOURCE_VARIABLE} is set to {override!r}: it should name a folder holding "
            f"{dataset}'s four files (.gz or not), or a mirror's base URL"
        )
    return f"offline? set {SOURCE_VARIABLE} to a folder holding {dataset}'s four files"
