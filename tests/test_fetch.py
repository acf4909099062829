import gzip
import hashlib
import http.server
import io
import subprocess
import sys
import threading
import time
import zlib

import pytest

from helpers import NO_REAL_MNIST, real_mnist_file, write_idx_set
from mnist_pipeline import fetch
from mnist_pipeline.datasets import (
    FASHION_MNIST,
    FILE_BYTES,
    MNIST,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    expected_md5,
)
from mnist_pipeline.errors import PipelineError

WRONG = b"\x00\x00\x08\x01" + bytes(4)  # a valid, empty label file: not the one asked for


@pytest.fixture
def files(tmp_path):
    """The synthetic files as served bytes (gzipped) and their expected md5."""
    folder = tmp_path / "src"
    md5 = write_idx_set(folder, n_train=20, n_test=10)
    return {name: (folder / f"{name}.gz").read_bytes() for name in md5}, md5


@pytest.fixture
def server(files):
    """A local mirror on 127.0.0.1 whose first path segment picks its behaviour."""
    served, _ = files
    requests, sent = [], {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            mode, name = self.path.strip("/").split("/")
            requests.append(self.path)
            body = served.get(name.removesuffix(".gz"))
            if body is None or mode == "404":
                return self.send_error(404)
            if mode == "500":
                return self.send_error(500)
            if mode == "wrong":
                body = gzip.compress(WRONG, mtime=0)
            if mode == "hang":
                time.sleep(3)
            if mode in ("endless", "huge"):
                return self.endless(announce=mode == "huge")
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            cut = mode == "cut" or (mode == "flaky" and requests.count(self.path) == 1)
            self.wfile.write(body[: len(body) // 2] if cut else body)

        def endless(self, announce):
            """Zeros until the client hangs up; `announce`: with a Content-Length of 10 GB."""
            self.send_response(200)
            if announce:
                self.send_header("Content-Length", str(10**10))
            self.end_headers()
            sent[self.path] = 0
            try:
                while sent[self.path] < 10**10:
                    self.wfile.write(bytes(1 << 16))
                    sent[self.path] += 1 << 16
            except (BrokenPipeError, ConnectionResetError):
                pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", requests, sent
    httpd.shutdown()
    httpd.server_close()


def _fetch(name, md5, sources):
    log = []
    return fetch.fetch_file(name, md5, sources, log.append), log


def test_local_folder_gzipped_or_raw(tmp_path, files):
    served, md5 = files
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / TRAIN_LABELS).write_bytes(gzip.decompress(served[TRAIN_LABELS]))
    data, _ = _fetch(TRAIN_LABELS, md5[TRAIN_LABELS], [str(raw)])
    assert hashlib.md5(data).hexdigest() == md5[TRAIN_LABELS]


def test_http_errors_and_wrong_checksums_fall_through_to_the_next_source(server, files):
    base, requests, _ = server
    _, md5 = files
    sources = [f"{base}/404", f"{base}/500", f"{base}/wrong", f"{base}/ok"]
    data, log = _fetch(TRAIN_LABELS, md5[TRAIN_LABELS], sources)
    assert hashlib.md5(data).hexdigest() == md5[TRAIN_LABELS]
    text = "\n".join(log)
    assert "404: HTTP 404" in text and "500: HTTP 500" in text
    assert f"wrong: md5 {hashlib.md5(WRONG).hexdigest()}, expected" in text
    assert f"verified md5 {md5[TRAIN_LABELS]} from {base}/ok" in text
    assert any(line.endswith("MB/s") and " MB, " in line for line in log)  # progress lines


def test_a_cut_connection_is_retried_a_bounded_number_of_times(server, files):
    base, requests, _ = server
    _, md5 = files
    data, log = _fetch(TRAIN_LABELS, md5[TRAIN_LABELS], [f"{base}/flaky"])
    assert hashlib.md5(data).hexdigest() == md5[TRAIN_LABELS]
    assert len(requests) == 2 and "retry 1/2" in "\n".join(log)

    requests.clear()
    data, log = _fetch(TRAIN_LABELS, md5[TRAIN_LABELS], [f"{base}/cut", f"{base}/ok"])
    assert requests == [f"/cut/{TRAIN_LABELS}.gz"] * fetch.ATTEMPTS + [f"/ok/{TRAIN_LABELS}.gz"]
    assert f"download failed {fetch.ATTEMPTS} times" in "\n".join(log)


def test_every_request_has_a_timeout(server, files, monkeypatch):
    base, _, _ = server
    _, md5 = files
    monkeypatch.setattr(fetch, "TIMEOUT_S", 0.3)
    start = time.monotonic()
    data, log = _fetch(TRAIN_LABELS, md5[TRAIN_LABELS], [f"{base}/hang", f"{base}/ok"])
    assert time.monotonic() - start < 2.5  # well before the 3 s the server hangs
    assert "timed out" in "\n".join(log)


def test_when_every_source_fails_one_error_lists_them(tmp_path, server, files):
    base, _, _ = server
    _, md5 = files
    sources = [str(tmp_path / "nowhere"), f"{base}/404", "http://127.0.0.1:9/"]
    with pytest.raises(PipelineError) as error:
        fetch.fetch_file(TRAIN_LABELS, md5[TRAIN_LABELS], sources, lambda _: None, "HINT")
    lines = str(error.value).splitlines()
    assert lines[0] == f"fetch: no source provided a valid {TRAIN_LABELS}:"
    assert lines[1] == f"  {tmp_path / 'nowhere'} (does not exist)"
    assert lines[2].startswith(f"  {base}/404 (HTTP 404")
    assert lines[3].startswith("  http://127.0.0.1:9/ (unreachable")
    assert lines[4:] == ["HINT"]


def test_the_hint_names_the_variable_and_the_data_set_it_needs():
    assert fetch.offline_hint({"DATASET_SOURCE": " /x "}, "fashion-mnist") == (
        "DATASET_SOURCE is set to '/x': it should name a folder holding fashion-mnist's four "
        "files (.gz or not), or a mirror's base URL"
    )
    assert fetch.offline_hint({}, "fashion-mnist") == (
        "offline? set DATASET_SOURCE to a folder holding fashion-mnist's four files"
    )
    assert fetch.offline_hint({"MNIST_SOURCE": "/y"}, "mnist") == (
        "offline? set DATASET_SOURCE to a folder holding mnist's four files"
    )  # the tests' own variable (where the real MNIST is), which fetch does not read


def test_another_data_set_s_file_is_named_as_such(tmp_path, monkeypatch):
    """Synthetic labels taken for MNIST's canonical file: asked for Fashion-MNIST's, the
    error says whose file was found; a file of no known data set gets the plain md5 line."""
    folder = tmp_path / "src"
    md5 = write_idx_set(folder, n_train=20, n_test=10)
    monkeypatch.setitem(MNIST.md5, TRAIN_LABELS, md5[TRAIN_LABELS])
    wanted = FASHION_MNIST.md5[TRAIN_LABELS]
    with pytest.raises(PipelineError) as error:
        fetch.fetch_file(TRAIN_LABELS, wanted, [str(folder)], lambda _: None, "HINT")
    assert str(error.value).splitlines()[1:] == [
        f"  {folder} (md5 {md5[TRAIN_LABELS]}, expected {wanted}: the file is mnist's "
        f"{TRAIN_LABELS}, not fashion-mnist's)",
        "HINT",
    ]
    monkeypatch.setitem(MNIST.md5, TRAIN_LABELS, "0" * 32)  # now nobody's file
    with pytest.raises(PipelineError) as error:
        fetch.fetch_file(TRAIN_LABELS, wanted, [str(folder)], lambda _: None, "HINT")
    assert f"(md5 {md5[TRAIN_LABELS]}, expected {wanted})" in str(error.value)


@pytest.mark.heavy
def test_digits_given_for_fashion_mnist_are_named_in_the_fetch_stage_s_error(tmp_path):
    """The fetch stage as dvc.yaml runs it, dataset fashion-mnist, DATASET_SOURCE at the
    real MNIST: the error says whose files they are and what the variable should name."""
    from helpers import REAL_MNIST, copy_project, run, stage_command, tool_env, update_params

    if real_mnist_file(TRAIN_IMAGES) is None:  # the first file fetched
        pytest.skip(NO_REAL_MNIST)
    repo = copy_project(tmp_path / "repo")
    update_params(repo, {"dataset": "fashion-mnist", "fetch.sources": {}})
    env = tool_env(DATASET_SOURCE=str(REAL_MNIST))
    result = run(stage_command("fetch"), repo, env, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"error: fetch: no source provided a valid {TRAIN_IMAGES}:",
        f"  {REAL_MNIST} (md5 {MNIST.md5[TRAIN_IMAGES]}, expected "
        f"{FASHION_MNIST.md5[TRAIN_IMAGES]}: the file is mnist's {TRAIN_IMAGES}, "
        "not fashion-mnist's)",
        f"DATASET_SOURCE is set to '{REAL_MNIST}': it should name a folder holding fashion-mnist's "
        "four files (.gz or not), or a mirror's base URL",
    ]
    assert not (repo / "data/raw").exists()


def test_fetch_all_writes_decompressed_verified_files(tmp_path, server, files):
    base, _, _ = server
    _, md5 = files
    out = tmp_path / "out"
    out.mkdir()
    fetch.fetch_all(md5, [f"{base}/ok"], out, lambda _: None)
    assert {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in out.iterdir()} == md5


def test_env_source_comes_first_and_md5_overrides_are_checked():
    assert fetch.sources_with_env(["a"], {"DATASET_SOURCE": " /d "}) == ["/d", "a"]
    assert fetch.sources_with_env(["a"], {"DATASET_SOURCE": "a"}) == ["a"]
    assert fetch.sources_with_env(["a"], {"DATASET_SOURCE": " ", "MNIST_SOURCE": "/d"}) == ["a"]
    assert fetch.sources_with_env(["a"], {}) == ["a"]
    assert expected_md5(MNIST, {})[TRAIN_LABELS] == "a25bea736e30d166cdddb491f175f624"
    with pytest.raises(PipelineError, match="fetch.md5.labels: unknown file"):
        expected_md5(MNIST, {"labels": "0" * 32})
    with pytest.raises(PipelineError, match=f"fetch.md5.{TRAIN_LABELS}: expected 32 lowercase hex"):
        expected_md5(MNIST, {TRAIN_LABELS: "xyz"})


def bomb(path, expanded: int) -> int:
    """Write a gzip file that expands to `expanded` zero bytes (a gzip bomb); return its size.
    Built from one compressed MiB repeated, so it takes a moment, not minutes."""
    block = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    mib = block.compress(bytes(1 << 20)) + block.flush(zlib.Z_FULL_FLUSH)
    with open(path, "wb") as out:
        out.write(b"\x1f\x8b\x08\x00" + bytes(4) + b"\x02\xff")  # gzip header, no name
        for _ in range(expanded >> 20):
            out.write(mib)
        out.write(block.flush())  # the final block; no trailer: the fetch must stop long before
    return path.stat().st_size


@pytest.mark.heavy
def test_a_gzip_bomb_in_a_folder_is_refused_at_the_bound_in_bounded_memory(tmp_path, files):
    """The whole fetch stage, given a 3 GB bomb first: refused fast, little memory, and the
    next source used."""
    from helpers import copy_project, stage_command, tool_env, update_params

    served, md5 = files
    good, bad = tmp_path / "good", tmp_path / "bad"
    for folder in (good, bad):
        folder.mkdir()
        for name, body in served.items():
            (folder / f"{name}.gz").write_bytes(body)
    assert bomb(bad / "train-images-idx3-ubyte.gz", 3 * 10**9) < 15 * 10**6
    repo = copy_project(tmp_path / "repo")
    update_params(repo, {"fetch.sources": {"mnist": [str(good)]}, "fetch.md5": md5})
    measure = (
        "import resource, subprocess, sys, time; start = time.monotonic(); "
        "code = subprocess.run(sys.argv[1:]).returncode; "
        "print(code, time.monotonic() - start, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )  # the stage's own wall time and peak resident memory (KiB on Linux), from outside
    result = subprocess.run(
        [sys.executable, "-c", measure, *stage_command("fetch")],
        cwd=repo, env=tool_env(DATASET_SOURCE=str(bad)), capture_output=True, text=True,
    )  # fmt: skip
    code, seconds, peak_mib = result.stdout.split("\n")[-2].split()
    assert code == "0", result.stderr
    assert f"train-images-idx3-ubyte: {bad}: expands past 47,040,016 bytes" in result.stdout
    assert f"verified md5 {md5['train-images-idx3-ubyte']} from {good}" in result.stdout
    assert float(seconds) < 2 and float(peak_mib) < 400, (seconds, peak_mib)


def test_an_endless_response_is_refused_at_the_bound(server, files):
    base, requests, sent = server
    _, md5 = files
    data, log = _fetch(TRAIN_LABELS, md5[TRAIN_LABELS], [f"{base}/endless", f"{base}/ok"])
    assert hashlib.md5(data).hexdigest() == md5[TRAIN_LABELS]
    assert f"endless: is larger than {FILE_BYTES[TRAIN_LABELS]:,} bytes" in "\n".join(log)
    assert requests == [f"/endless/{TRAIN_LABELS}.gz", f"/ok/{TRAIN_LABELS}.gz"]  # not retried


def test_a_content_length_over_the_bound_is_refused_before_the_body(server, files):
    base, _, sent = server
    _, md5 = files
    data, log = _fetch(TRAIN_LABELS, md5[TRAIN_LABELS], [f"{base}/huge", f"{base}/ok"])
    assert hashlib.md5(data).hexdigest() == md5[TRAIN_LABELS]
    limit = fetch.download_limit(FILE_BYTES[TRAIN_LABELS])
    assert f"huge: response of 10,000,000,000 bytes announced, over {limit:,}" in "\n".join(log)
    assert sent[f"/huge/{TRAIN_LABELS}.gz"] < 10**7  # what the socket took before the hang-up


@pytest.mark.parametrize("cut", [2, 10, 40, -8, -1])
def test_a_cut_or_padded_gzip_stream_is_refused(tmp_path, files, cut):
    served, md5 = files
    body = served[TRAIN_LABELS]
    folder = tmp_path / "cut"
    folder.mkdir()
    for bad in (body[:cut], body + b"junk"):
        (folder / f"{TRAIN_LABELS}.gz").write_bytes(bad)
        with pytest.raises(PipelineError, match="corrupt gzip stream"):
            _fetch(TRAIN_LABELS, md5[TRAIN_LABELS], [str(folder)])


class Trickle(io.RawIOBase):
    """`data`, `chunk` bytes a read: a slow network's arrival pattern."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self.data, self.chunk = data, chunk

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        part, self.data = self.data[: min(self.chunk, len(buffer))], self.data[self.chunk :]
        buffer[: len(part)] = part
        return len(part)


def test_gzip_members_and_chunk_boundaries_anywhere(files):
    """Two gzip members, arriving a byte at a time or whole: the same bytes as gzip.decompress;
    and raw (not gzipped) bytes pass through."""
    served, _ = files
    body = served[TRAIN_LABELS] + served[TRAIN_LABELS]
    for chunk in (1, 2, 3, len(body)):
        source = fetch.Bounded(Trickle(body, chunk), len(body), lambda received: None)
        got = fetch.inflate(source, 2 * FILE_BYTES[TRAIN_LABELS])
        assert got == gzip.decompress(body)
    raw = gzip.decompress(served[TRAIN_LABELS])
    source = fetch.Bounded(Trickle(raw, 7), len(raw), lambda received: None)
    assert fetch.inflate(source, FILE_BYTES[TRAIN_LABELS]) == raw
