import gzip
import hashlib
import http.server
import threading
import time

import pytest

from helpers import write_idx_set
from mnist_pipeline import fetch
from mnist_pipeline.datasets import MNIST, TRAIN_LABELS, expected_md5
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
    requests = []

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
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            cut = mode == "cut" or (mode == "flaky" and requests.count(self.path) == 1)
            self.wfile.write(body[: len(body) // 2] if cut else body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", requests
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
    base, requests = server
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
    base, requests = server
    _, md5 = files
    data, log = _fetch(TRAIN_LABELS, md5[TRAIN_LABELS], [f"{base}/flaky"])
    assert hashlib.md5(data).hexdigest() == md5[TRAIN_LABELS]
    assert len(requests) == 2 and "retry 1/2" in "\n".join(log)

    requests.clear()
    data, log = _fetch(TRAIN_LABELS, md5[TRAIN_LABELS], [f"{base}/cut", f"{base}/ok"])
    assert requests == [f"/cut/{TRAIN_LABELS}.gz"] * fetch.ATTEMPTS + [f"/ok/{TRAIN_LABELS}.gz"]
    assert f"download failed {fetch.ATTEMPTS} times" in "\n".join(log)


def test_every_request_has_a_timeout(server, files, monkeypatch):
    base, _ = server
    _, md5 = files
    monkeypatch.setattr(fetch, "TIMEOUT_S", 0.3)
    start = time.monotonic()
    data, log = _fetch(TRAIN_LABELS, md5[TRAIN_LABELS], [f"{base}/hang", f"{base}/ok"])
    assert time.monotonic() - start < 2.5  # well before the 3 s the server hangs
    assert "timed out" in "\n".join(log)


def test_when_every_source_fails_one_error_lists_them(tmp_path, server, files):
    base, _ = server
    _, md5 = files
    sources = [str(tmp_path / "nowhere"), f"{base}/404", "http://127.0.0.1:9/"]
    with pytest.raises(PipelineError) as error:
        _fetch(TRAIN_LABELS, md5[TRAIN_LABELS], sources)
    message = str(error.value)
    assert message.startswith(f"fetch: no source provided a valid {TRAIN_LABELS}: ")
    assert "nowhere (not a directory)" in message and "(HTTP 404" in message
    assert "127.0.0.1:9/ (unreachable" in message and "\n" not in message


def test_fetch_all_writes_decompressed_verified_files(tmp_path, server, files):
    base, _ = server
    _, md5 = files
    out = tmp_path / "out"
    out.mkdir()
    fetch.fetch_all(md5, [f"{base}/ok"], out, lambda _: None)
    assert {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in out.iterdir()} == md5


def test_env_source_comes_first_and_md5_overrides_are_checked():
    assert fetch.sources_with_env(["a"], {"MNIST_SOURCE": "/d"}) == ["/d", "a"]
    assert fetch.sources_with_env(["a"], {"DATASET_SOURCE": "/e", "MNIST_SOURCE": "/d"}) == [
        "/e",
        "/d",
        "a",
    ]
    assert fetch.sources_with_env(["a"], {"DATASET_SOURCE": "a", "MNIST_SOURCE": " "}) == ["a"]
    assert fetch.sources_with_env(["a"], {}) == ["a"]
    assert expected_md5(MNIST, {})[TRAIN_LABELS] == "a25bea736e30d166cdddb491f175f624"
    with pytest.raises(PipelineError, match="fetch.md5.labels: unknown file"):
        expected_md5(MNIST, {"labels": "0" * 32})
    with pytest.raises(PipelineError, match=f"fetch.md5.{TRAIN_LABELS}: expected 32 lowercase hex"):
        expected_md5(MNIST, {TRAIN_LABELS: "xyz"})
