"""Obtain the four IDX files from mirrors or local folders, verified by md5 of their content.

Each file is tried against every source in order. A source that fails (HTTP error, missing
file, wrong checksum, connection cut too often) is reported and the next one tried; only when
all fail does fetching stop, with one message listing what was tried and why each failed.
"""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .errors import PipelineError
from .idx import decompress

TIMEOUT_S = 30
# A folder or base URL tried before the params' sources, for offline machines. DATASET_SOURCE
# is the data-set-neutral name; MNIST_SOURCE is accepted too.
SOURCE_VARIABLES = ("DATASET_SOURCE", "MNIST_SOURCE")
ATTEMPTS = 3  # per URL, for connections cut mid-file
CHUNK = 1 << 16
Log = Callable[[str], None]


class SourceFailed(Exception):
    """This source cannot provide this file; the next source is tried."""


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def fetch_file(name: str, md5: str, sources: list[str], log: Log) -> bytes:
    """Return the decompressed bytes of IDX file `name` whose md5 equals `md5`."""
    failures = []
    for source in sources:
        try:
            data = _read_url(source, name, log) if is_url(source) else _read_dir(source, name)
            data = decompress(data, f"{source} {name}")
            actual = hashlib.md5(data).hexdigest()
            if actual != md5:
                raise SourceFailed(f"md5 {actual}, expected {md5}")
        except (SourceFailed, PipelineError) as exc:
            reason = str(exc)
            log(f"  {name}: {source}: {reason}; trying the next source")
            failures.append(f"{source} ({reason})")
            continue
        log(f"  {name}: verified md5 {md5} from {source}")
        return data
    tried = "; ".join(failures) if failures else "no sources given"
    raise PipelineError(
        f"fetch: no source provided a valid {name}: {tried} "
        f"(offline? set {SOURCE_VARIABLES[0]} to a folder holding the files)"
    )


def _read_dir(source: str, name: str) -> bytes:
    folder = Path(source)
    if not folder.is_dir():
        raise SourceFailed("not a directory")
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            try:
                return candidate.read_bytes()
            except OSError as exc:
                raise SourceFailed(f"cannot read {candidate.name}: {exc.strerror}") from None
    raise SourceFailed(f"neither {name}.gz nor {name} found")


def _read_url(base: str, name: str, log: Log) -> bytes:
    url = f"{base.rstrip('/')}/{name}.gz"
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _download(url, log)
        except urllib.error.HTTPError as exc:
            raise SourceFailed(f"HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise SourceFailed(f"unreachable ({exc.reason})") from None
        except (http.client.HTTPException, OSError) as exc:  # cut mid-file, reset, timeout
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if attempt == ATTEMPTS:
                raise SourceFailed(f"download failed {ATTEMPTS} times, last: {reason}") from None
            log(f"  {url}: {reason}; retry {attempt}/{ATTEMPTS - 1}")
    raise AssertionError("unreachable")


def _download(url: str, log: Log) -> bytes:
    """GET `url` whole, logging progress as plain lines (readable in a log file)."""
    start = time.monotonic()
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        total = int(response.headers.get("Content-Length") or 0)
        chunks, received, next_report = [], 0, 0.25
        while chunk := response.read(CHUNK):
            chunks.append(chunk)
            received += len(chunk)
            if total and received / total >= next_report and received < total:
                log(f"  {url}: {_progress(received, total, start)}")
                next_report += 0.25
    if total and received != total:
        raise http.client.IncompleteRead(b"", total - received)
    log(f"  {url}: {_progress(received, total, start)}")
    return b"".join(chunks)


def _progress(received: int, total: int, start: float) -> str:
    elapsed = max(time.monotonic() - start, 1e-6)
    done = f"{received / 1e6:.1f}" + (f"/{total / 1e6:.1f}" if total else "")
    return f"{done} MB, {received / 1e6 / elapsed:.1f} MB/s"


def fetch_all(expected_md5: dict[str, str], sources: list[str], out_dir: Path, log: Log) -> None:
    """Write every verified, decompressed file of `expected_md5` into `out_dir`."""
    for name, md5 in expected_md5.items():
        (Path(out_dir) / name).write_bytes(fetch_file(name, md5, sources, log))


def sources_with_env(sources: list[str], environ: dict[str, str]) -> list[str]:
    """The params' sources, preceded by those the environment variables name."""
    overrides = [environ[v].strip() for v in SOURCE_VARIABLES if environ.get(v, "").strip()]
    return list(dict.fromkeys([*overrides, *sources]))  # each source once, in order
