"""`mnist-pipeline serve`: the JSON API, its refusals, the command, and the page in Chromium."""

import base64
import http.client
import io
import json
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis import checks

from helpers import ARTIFACTS, fit, synthetic_split, train_params
from mnist_pipeline import checkpoint, evaluate, inference
from mnist_pipeline.apps import preprocess
from mnist_pipeline.apps.serve import (
    BODY_TIMEOUT_S,
    HEADERS_TIMEOUT_S,
    MAX_BODY,
    Predictor,
    make_server,
)

pytestmark = pytest.mark.heavy  # a model trained, servers started

NAMES = [str(i) for i in range(10)]


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def synthetic_model(tmp_path_factory):
    images, labels = synthetic_split(200, seed=0)
    net, _ = fit(images, labels, train_params(epochs=3, lr=0.05))
    path = tmp_path_factory.mktemp("model") / "model.pt"
    path.write_bytes(checkpoint.checkpoint_bytes(net, {"lr": 0.05}, NAMES))
    return path


def start(model_path):
    """A server on a free loopback port, in a thread of this process; returns (server, port)."""
    server = make_server(Predictor(model_path), "127.0.0.1", 0)
    server.start()
    return server, server.port


@pytest.fixture(scope="module")
def api(synthetic_model):
    server, port = start(synthetic_model)
    yield port
    server.stop()


def request(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    status, data = response.status, response.read()
    connection.close()
    return status, data


def test_predict_gives_the_cli_s_answer_and_the_input_it_saw(api, synthetic_model, tmp_path):
    image = synthetic_split(1, seed=5)[0][0]
    (tmp_path / "digit.png").write_bytes(png(image))
    status, data = request(api, "POST", "/api/predict", png(image))
    answer = json.loads(data)
    assert status == 200 and set(answer) == {"predicted", "probabilities", "input"}
    net = checkpoint.load_checkpoint(synthetic_model).model
    seen = preprocess.to_mnist(preprocess.read_image(tmp_path / "digit.png"), "digit.png")
    cli = inference.classify(net, seen[None], NAMES)[0]  # what `mnist-pipeline predict` prints
    assert answer["predicted"] == cli["predicted"]
    assert answer["probabilities"] == cli["probabilities"]
    assert np.array_equal(np.array(answer["input"], dtype=np.uint8), seen)  # [28, 28]


def test_the_model_is_described(api, synthetic_model):
    status, data = request(api, "GET", "/api/model")
    model = json.loads(data)
    assert status == 200 and model["model"] == str(synthetic_model)
    assert model["params"] == {"lr": 0.05} and model["class_names"] == NAMES
    assert model["test_accuracy"] is None  # no project (dvc.yaml, dvc.lock) around this one


def test_the_page_is_served_whole_and_needs_no_network(api):
    status, data = request(api, "GET", "/")
    page = data.decode()
    assert status == 200 and "<canvas" in page and "pointerdown" in page
    assert "src=" not in page and "href=" not in page  # no script, style or font from elsewhere


@pytest.mark.parametrize(
    "body, message",
    [
        (b"not an image at all", "not a readable image (PNG or JPEG expected)"),
        (png(np.zeros((280, 280), dtype=np.uint8)), "no digit found"),  # an empty drawing
        (b"", "not a readable image"),
    ],
)
def test_bad_images_get_400_with_a_one_line_json_error(api, body, message):
    status, data = request(api, "POST", "/api/predict", body)
    error = json.loads(data)["error"]
    assert status == 400 and message in error and "\n" not in error


def test_a_body_over_5_mb_is_refused_before_it_is_read(api):
    connection = http.client.HTTPConnection("127.0.0.1", api, timeout=10)
    connection.putrequest("POST", "/api/predict")
    connection.putheader("Content-Length", str(MAX_BODY + 1))
    connection.endheaders()  # and no body at all: the answer must not wait for one
    response = connection.getresponse()
    assert response.status == 413 and "over 5,242,880 bytes" in json.loads(response.read())["error"]
    connection.close()


@pytest.mark.parametrize(
    "path",
    [
        "/nothing",
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/api/../../../etc/passwd",
        "//etc/passwd",
        "/serve.py",
        "/serve_page.html",
        "/api/predict/../../checkpoint.py",
        "/..%2f..%2f..%2fetc%2fpasswd",
    ],
)
def test_unknown_paths_and_traversal_attempts_get_404(api, path):
    status, data = request(api, "GET", path)
    assert status == 404 and b"root:" not in data and b"import" not in data
    assert json.loads(data)["error"].startswith("not found")


def serve_command(*args):
    return [sys.executable, "-m", "mnist_pipeline", "serve", "--port", "0", *args]


def test_a_bad_checkpoint_stops_the_command_before_it_listens(tmp_path):
    (tmp_path / "model.pt").write_bytes(png(np.zeros((8, 8), dtype=np.uint8)))
    result = subprocess.run(
        serve_command("--model", str(tmp_path / "model.pt")), capture_output=True, text=True
    )
    assert result.returncode == 1 and "serving" not in result.stdout
    assert result.stderr.strip() == (
        f"error: {tmp_path / 'model.pt'}: not a safe, readable checkpoint: not a PyTorch file "
        "(expected models/model.pt as the train stage writes it)"
    )


@pytest.mark.parametrize("host, warned", [("127.0.0.1", False), ("0.0.0.0", True)])
def test_ctrl_c_stops_it_cleanly_and_other_hosts_are_warned_about(synthetic_model, host, warned):
    server = subprocess.Popen(
        serve_command("--model", str(synthetic_model), "--host", host),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = server.stdout.readline()
        assert line.startswith(f"serving {synthetic_model} at http://{host}:")
        port = int(line.split(":")[2].split("/")[0])
        assert request(port, "GET", "/api/model")[0] == 200
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=10)
    assert server.returncode == 0 and out.strip() == "stopped", (out, err)
    assert "Traceback" not in err
    assert ("no authentication" in err) == warned
    # Which model, as `predict` says it (tests/test_predict.py: with its test accuracy).
    unknown = "test accuracy unknown: no dvc.yaml in its folder or above"
    assert f"serve: {synthetic_model} ({unknown})\n" in err


@pytest.mark.slow
def test_drawing_a_one_and_a_seven_and_uploading_a_four_in_chromium(shipped_run, browser):
    """The shipped model, the real page: strokes drawn with pointer events, an upload."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    repo, _, _ = shipped_run
    server, port = start(repo / "models/model.pt")
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        accuracy = json.loads((repo / "metrics/metrics.json").read_text())["test"]["accuracy"]
        WebDriverWait(browser, 10).until(
            lambda d: f"test accuracy {100 * accuracy:.1f} %" in d.find_element("id", "model").text
        )
        pad = browser.find_element("id", "pad")

        def draw(points):  # canvas pixels (280 x 280); offsets are from the canvas centre
            actions = ActionChains(browser, duration=10)
            actions.move_to_element_with_offset(pad, points[0][0] - 140, points[0][1] - 140)
            actions.click_and_hold()
            for (x, y), (px, py) in zip(points[1:], points[:-1], strict=True):
                actions.move_by_offset(x - px, y - py)
            actions.release().perform()

        def line(p, q, steps=12):
            return [
                (round(p[0] + (q[0] - p[0]) * i / steps), round(p[1] + (q[1] - p[1]) * i / steps))
                for i in range(steps + 1)
            ]

        def answer_becomes(expected):
            WebDriverWait(browser, 10).until(
                lambda d: d.find_element("id", "answer").text == expected
            )

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        draw(line((140, 40), (140, 240)))
        answer_becomes("one")
        browser.save_screenshot(str(ARTIFACTS / "serve-one.png"))

        browser.find_element("id", "clear").click()
        draw(line((70, 50), (210, 50)))  # the seven's bar: a stroke of its own...
        draw(line((210, 50), (120, 240)))  # ...then its stem: predicted after each stroke
        answer_becomes("seven")
        assert len(browser.find_elements("css selector", "#bars .bar")) == 3  # the top three
        browser.save_screenshot(str(ARTIFACTS / "serve-seven.png"))

        browser.find_element("id", "undo").click()  # back to the bar alone
        WebDriverWait(browser, 10).until(lambda d: d.find_element("id", "answer").text != "seven")

        fake = ARTIFACTS / "fake-digit.png"
        Image.fromarray(255 - evaluate.fake_image()).resize((140, 140)).save(fake)
        browser.find_element("id", "upload").send_keys(str(fake))
        answer_becomes("four")
        browser.save_screenshot(str(ARTIFACTS / "serve-upload.png"))
    finally:
        server.stop()


@pytest.mark.slow
def test_the_fake_image_as_png_is_a_four_through_the_api(shipped_run):
    repo, _, _ = shipped_run
    server, port = start(repo / "models/model.pt")
    try:
        status, data = request(port, "POST", "/api/predict", png(evaluate.fake_image()))
        assert status == 200 and json.loads(data)["predicted"] == "four"
        model = json.loads(request(port, "GET", "/api/model")[1])
        metrics = json.loads((repo / "metrics/metrics.json").read_text())
        assert model["test_accuracy"] == metrics["test"]["accuracy"]
        assert model["params"]["epochs"] == 50
    finally:
        server.stop()


def test_many_clients_at_once_all_get_answers(api):
    """A small load test (the benchmark is bench/serve.py): 8 threads, 40 requests, answered
    in shared batches, each the answer a lone request gets."""
    images = synthetic_split(4, seed=5)[0]
    alone = [json.loads(request(api, "POST", "/api/predict", png(i))[1]) for i in images]
    statuses, mismatches = [], []

    def client(k):
        for _ in range(5):
            status, data = request(api, "POST", "/api/predict", png(images[k % 4]))
            statuses.append(status)
            answer = json.loads(data)
            if answer["predicted"] != alone[k % 4]["predicted"] or any(
                abs(answer["probabilities"][c] - alone[k % 4]["probabilities"][c]) > 1e-5
                for c in NAMES
            ):
                mismatches.append(answer)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    start_time = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 40 and time.monotonic() - start_time < 60
    assert mismatches == []


# --- The refusals a well-kept HTTP stack gives (each failed on the hand-written server) ---


def raw(port, data, timeout=5.0):
    """Send `data` as it is; return everything the server sends back until it closes the
    connection or `timeout` seconds pass without a byte."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def status_of(answer):
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


POST = b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.mark.parametrize(
    "lengths",
    [
        [b"-1"],  # used to read until the client closed, past the 5 MB limit
        [b"abc"],
        [b"1e3"],
        [b"5", b"7"],  # two that disagree: which one frames the body?
        [b"5, 7"],
    ],
)
def test_a_malformed_negative_or_conflicting_content_length_gets_400(api, lengths):
    headers = b"".join(b"Content-Length: " + length + b"\r\n" for length in lengths)
    answer = raw(api, POST + headers + b"\r\n" + b"x" * 64)
    assert status_of(answer) == 400, answer[:200]
    assert b"not a readable image" not in answer  # refused as a request, not as an image


def test_a_6_mb_upload_from_urllib_gets_the_413_answer(api):
    upload = urllib.request.Request(
        f"http://127.0.0.1:{api}/api/predict", data=b"\0" * (6 * 1024 * 1024), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(upload, timeout=10)
    assert refused.value.code == 413
    assert "over 5,242,880 bytes" in json.loads(refused.value.read())["error"]


@pytest.mark.parametrize(
    "method, path, allowed",
    [("GET", "/api/predict", "POST"), ("PUT", "/api/predict", "POST"),
     ("DELETE", "/api/model", "GET"), ("POST", "/", "GET")],
)  # fmt: skip
def test_a_wrong_method_gets_405_naming_the_right_one(api, method, path, allowed):
    connection = http.client.HTTPConnection("127.0.0.1", api, timeout=10)
    connection.request(method, path, body=b"")
    response = connection.getresponse()
    assert response.status == 405 and allowed in response.getheader("Allow", "")
    assert json.loads(response.read())["error"]
    connection.close()


def png_header(width, height):
    """A PNG's signature and IHDR chunk alone: what Pillow reads for the size (8-bit grey)."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + end


@pytest.mark.parametrize("width, height", [(7100, 7100), (20000, 20000), (100000, 100000)])
def test_an_image_over_the_pixel_limit_gets_413_before_it_is_decoded(api, width, height):
    status, data = request(api, "POST", "/api/predict", png_header(width, height))
    error = json.loads(data)["error"]
    assert status == 413
    assert error == f"upload: {width}x{height} pixels, more than the 50 MP limit"


def test_a_small_but_damaged_image_is_still_a_400(api):
    status, data = request(api, "POST", "/api/predict", png_header(28, 28))
    assert status == 400 and "not a readable image" in json.loads(data)["error"]


STALLS = {
    "sends nothing": b"",
    "stops in its headers": POST + b"Content-Le",
    "stops in its body": POST + b"Content-Length: 1000\r\n\r\n" + b"x" * 500,
}


def wait_for_close(port, data, outcome):
    """Send `data`, then wait (up to 40 s) for the server to drop the connection."""
    start_time = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=40) as sock:
        sock.sendall(data)
        try:
            while sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        except TimeoutError:
            outcome["held"] = True
    outcome["seconds"] = time.monotonic() - start_time


def test_a_stalled_client_is_dropped_within_30_s(api):
    assert HEADERS_TIMEOUT_S + BODY_TIMEOUT_S < 30  # the shipped limits, which `api` uses
    outcomes = {name: {} for name in STALLS}
    threads = [
        threading.Thread(target=wait_for_close, args=(api, data, outcomes[name]))
        for name, data in STALLS.items()
    ]
    for thread in threads:  # all at once: the test takes one timeout, not three
        thread.start()
    for thread in threads:
        thread.join(timeout=45)
    for name, outcome in outcomes.items():
        assert not outcome.get("held") and outcome["seconds"] < 30, (name, outcome)


def test_64_stalled_connections_do_not_delay_an_ordinary_client(api):
    stalled = []
    try:
        for i in range(64):
            sock = socket.create_connection(("127.0.0.1", api), timeout=5)
            sock.sendall(list(STALLS.values())[1 + i % 2])
            stalled.append(sock)
        image = png(synthetic_split(1, seed=5)[0][0])
        start_time = time.monotonic()
        status, _ = request(api, "POST", "/api/predict", image)
        assert status == 200 and time.monotonic() - start_time < 1
    finally:
        for sock in stalled:
            sock.close()


def test_the_api_is_described_by_an_openapi_document(api):
    status, data = request(api, "GET", "/openapi.json")
    document = json.loads(data)
    assert status == 200 and document["openapi"].startswith("3.")
    assert set(document["paths"]) == {"/api/predict", "/api/model"}
    assert set(document["paths"]["/api/predict"]["post"]["responses"]) >= {"200", "400", "413"}


FETCH_6_MB = """
const done = arguments[arguments.length - 1];
fetch("/api/predict", {method: "POST", body: new Uint8Array(6 * 1024 * 1024)})
  .then(async r => done({status: r.status, body: await r.text()}))
  .catch(e => done({status: 0, body: String(e)}));
"""


def test_a_6_mb_upload_from_chromium_s_fetch_gets_the_413_answer(api, browser):
    browser.set_script_timeout(20)
    browser.get(f"http://127.0.0.1:{api}/")
    answer = browser.execute_async_script(FETCH_6_MB)
    assert answer["status"] == 413, answer
    assert "over 5,242,880 bytes" in json.loads(answer["body"])["error"]


# Ink on the drawing pad: pixels that are not the black background.
PAD_INK = """
const pad = document.getElementById("pad");
const pixels = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height).data;
let ink = 0;
for (let i = 0; i < pixels.length; i += 4) if (pixels[i] + pixels[i + 1] > 40) ink++;
return ink;
"""

DROP = """
const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
const files = new DataTransfer();
files.items.add(new File([bytes], "digit.png", {type: "image/png"}));
for (const type of ["dragenter", "dragover", "drop"])
  document.getElementById("pad").dispatchEvent(
    new DragEvent(type, {dataTransfer: files, bubbles: true, cancelable: true}));
"""


def test_an_uploaded_or_dropped_image_is_shown_on_the_pad(api, browser, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"http://127.0.0.1:{api}/")
    WebDriverWait(browser, 10).until(lambda d: d.find_element("id", "model").text != "")
    assert browser.execute_script(PAD_INK) == 0  # an empty pad to start with
    digit = np.zeros((140, 140), dtype=np.uint8)
    digit[20:120, 60:80] = 255  # a one, white on black as the pad draws
    (tmp_path / "one.png").write_bytes(png(digit))

    browser.find_element("id", "upload").send_keys(str(tmp_path / "one.png"))
    WebDriverWait(browser, 10).until(lambda d: d.find_element("id", "answer").text != "")
    ink = browser.execute_script(PAD_INK)  # the bar, scaled from 140 to 280: 40 x 200 pixels
    assert 6000 < ink < 10000, ink
    browser.save_screenshot(str(tmp_path / "upload.png"))

    browser.find_element("id", "clear").click()
    assert browser.execute_script(PAD_INK) == 0
    browser.execute_script(DROP, base64.b64encode(png(digit.T.copy())).decode())  # a dash
    WebDriverWait(browser, 10).until(lambda d: d.execute_script(PAD_INK) > 6000)
    WebDriverWait(browser, 10).until(lambda d: d.find_element("id", "answer").text != "")


# Any bytes, and real PNGs of any small size and content, as the bodies of POST /api/predict.
IMAGE_BODIES = st.one_of(
    st.binary(max_size=2048),
    st.builds(
        lambda h, w, seed: png(np.random.default_rng(seed).integers(0, 256, (h, w), np.uint8)),
        st.integers(1, 64), st.integers(1, 64), st.integers(0, 2**32 - 1),
    ),
)  # fmt: skip
HEALTH = list(HealthCheck)  # the server is the subject: slow draws are not a problem
for media in ("image/png", "image/jpeg", "application/octet-stream"):
    schemathesis.openapi.media_type(media, IMAGE_BODIES)


def test_the_api_survives_fuzzing_by_its_openapi_document(api):
    """Schemathesis: 50 requests generated from the document; no 500s, every answer's status,
    content type, headers and body as documented. Not checked: that schema-valid bodies are
    accepted, since most bytes are no image. (Its negative mode finds nothing to negate:
    the only input is a body of any bytes.)"""
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{api}/openapi.json")

    @given(case=schema.as_strategy())
    @settings(max_examples=50, deadline=None, database=None, suppress_health_check=HEALTH)
    def call(case):
        case.call_and_validate(timeout=10, excluded_checks=[checks.positive_data_acceptance])

    call()


def test_kept_alive_answers_do_not_wait_for_a_delayed_ack(api):
    """With Nagle's algorithm on, an answer written in two parts waits 40 ms for the client's
    delayed ACK: every request of a page's kept-alive connection would take 40 ms more."""
    connection = http.client.HTTPConnection("127.0.0.1", api, timeout=10)
    seconds = []
    for _ in range(9):
        start_time = time.perf_counter()
        connection.request("GET", "/api/model")
        connection.getresponse().read()
        seconds.append(time.perf_counter() - start_time)
    connection.close()
    assert sorted(seconds)[4] < 0.03, seconds


def test_concurrent_requests_share_forward_passes(api, monkeypatch):
    """16 requests at once are answered in fewer than 16 forward passes (the batching)."""
    sizes, real = [], inference.classify

    def counted(net, images, class_names):
        sizes.append(len(images))  # images [b, 28, 28]
        return real(net, images, class_names)

    monkeypatch.setattr(inference, "classify", counted)
    body, together = png(synthetic_split(1, seed=5)[0][0]), threading.Barrier(16)
    statuses = []

    def client():
        together.wait(timeout=10)
        statuses.append(request(api, "POST", "/api/predict", body)[0])

    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 16 and sum(sizes) == 16 and len(sizes) < 16, sizes
