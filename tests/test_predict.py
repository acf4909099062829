import hashlib
import io
import json
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import photos
from helpers import (
    NO_REAL_MNIST,
    ROOT,
    fit,
    real_mnist_file,
    synthetic_split,
    tool_env,
    train_params,
)
from mnist_pipeline import checkpoint, evaluate, idx, inference, tsv
from mnist_pipeline.apps import preprocess
from mnist_pipeline.datasets import TEST_IMAGES, TEST_LABELS
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.model import to_input

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
NO_PROJECT = "test accuracy unknown: no dvc.yaml in its folder or above"


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "mnist_pipeline", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=tool_env(),
    )  # fmt: skip


def a_digit():
    image = np.zeros((28, 28), dtype=np.uint8)
    image[6:22, 12:16] = 255  # a "one": a 16x4 bar
    image[6:9, 9:12] = 200
    return image


def test_preprocessing_matches_mnist_conventions():
    out = preprocess.to_mnist(a_digit(), "x")
    rows, cols = np.nonzero(out > 64)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert rows.max() - rows.min() + 1 <= 20 and rows.max() - rows.min() + 1 >= 18  # longer side 20
    ys, xs = np.indices(out.shape)
    centre = ((ys * out).sum() / out.sum(), (xs * out).sum() / out.sum())
    assert abs(centre[0] - 14) <= 1 and abs(centre[1] - 14) <= 1


def test_dark_on_light_and_off_centre_give_the_same_input():
    digit = a_digit()
    canvas = np.zeros((90, 70), dtype=np.uint8)
    canvas[50:78, 3:31] = digit  # far off-centre on a bigger page
    expected = preprocess.to_mnist(digit, "x")
    assert np.array_equal(preprocess.to_mnist(255 - digit, "x"), expected)
    assert np.array_equal(
        preprocess.to_mnist(canvas, "x"), preprocess.to_mnist(canvas[50:78, 3:31], "x")
    )
    assert np.abs(preprocess.to_mnist(255 - canvas, "x").astype(int) - expected).max() <= 1


def test_a_tiny_image_keeps_its_mark():
    # The background filter is at least 3 pixels wide: at 1 it would take the mark for paper.
    out = preprocess.to_mnist(np.eye(3, dtype=np.uint8) * 255, "tiny.png")  # a 3x3 diagonal
    assert out.max() == 255 and np.count_nonzero(out > 128) >= 20


def test_blank_and_non_images_are_errors(tmp_path):
    with pytest.raises(PipelineError, match="blank.png: no digit found"):
        preprocess.to_mnist(np.full((40, 40), 250, dtype=np.uint8), "blank.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(PipelineError, match="notes.png: not a readable image"):
        preprocess.read_image(tmp_path / "notes.png")


def test_transparent_png_is_read_as_ink_on_white(tmp_path):
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)
    rgba[..., 3][a_digit() > 0] = 255  # black ink, transparent elsewhere
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    gray = preprocess.read_image(tmp_path / "t.png")
    assert gray[0, 0] == 255 and gray[10, 13] == 0


CASES = Path(__file__).parent / "cases"  # inputs users reported (see tests/cases/README.md)
# Modes Pillow uses in memory only: no file reader in Pillow opens an image as one of these.
MODES_NOT_FROM_FILES = {"HSV", "La", "RGBa", "I;16L", "I;16N", "RGBX"}


def a_mode_sample(mode):
    """(file bytes, format) of a [30, 60] image in `mode`: a black left third, a middle third
    at half the mode's range, a white right third; alpha modes have a transparent black
    square at [10:20, 25:35] that must read as white."""
    third = np.repeat(np.array([0.0, 0.5, 1.0]), 20)[None].repeat(30, axis=0)  # [30, 60]
    formats = {"I;16": "PNG", "I;16B": "TIFF", "I": "TIFF", "F": "TIFF", "1": "PNG"}
    if mode in ("I;16", "I;16B"):  # (Pillow's convert from I;16 to I;16B clips to 255)
        values = (third * 65535).round().astype(">u2" if mode == "I;16B" else "<u2")
        image = Image.frombytes(mode, (60, 30), values.tobytes())
    elif mode == "I":  # beyond 16 bits: scaled from its own minimum to maximum
        image = Image.fromarray((third * 2_000_000 - 1_000_000).astype(np.int32))
    elif mode == "F":  # values outside 0..1 are clipped
        image = Image.fromarray((third * 1.4 - 0.2).astype(np.float32))  # -0.2, 0.5, 1.2
    elif mode == "1":
        image = Image.fromarray(third > 0.25).convert("1")  # no middle grey in 1 bit
    else:
        grey = Image.fromarray((third * 255).round().astype(np.uint8))
        if mode in ("LA", "RGBA", "PA"):
            alpha = np.full((30, 60), 255, dtype=np.uint8)
            alpha[10:20, 25:35] = 0
            rgba = grey.convert("RGBA")
            rgba.putalpha(Image.fromarray(alpha))
            rgba.paste((0, 0, 0, 0), (25, 10, 35, 20))
            image = rgba.convert(mode) if mode != "PA" else rgba.convert("PA")
        elif mode == "P":
            image = grey.convert("P")
        else:
            image = grey.convert(mode)
        formats[mode] = "PNG" if mode in ("L", "LA", "P", "RGB", "RGBA") else "TIFF"
    out = io.BytesIO()
    image.save(out, formats[mode])
    return out.getvalue(), formats[mode]


@pytest.mark.parametrize(
    "mode", sorted(set(Image.MODES) - MODES_NOT_FROM_FILES) + ["I (16-bit PGM)", "P+transparency"]
)
def test_every_mode_is_scaled_to_8_bit_grey_not_clipped(mode):
    if mode == "I (16-bit PGM)":  # Pillow reads PGM samples over 8 bits as mode "I", 0-65535
        data = b"P5\n3 1\n65535\n" + np.array([0, 32768, 65535], ">u2").tobytes()
        assert Image.open(io.BytesIO(data)).mode == "I"
        assert preprocess.decode_image(data, "x.pgm").tolist() == [[0, 128, 255]]
        return
    if mode == "P+transparency":  # a palette image with a transparent colour: white paper
        image = Image.new("P", (4, 4), 0)
        image.putpalette([0, 0, 0, 255, 255, 255])
        image.info["transparency"] = 0
        out = io.BytesIO()
        image.save(out, "PNG")
        assert preprocess.decode_image(out.getvalue(), "p.png").tolist() == [[255] * 4] * 4
        return
    data, fmt = a_mode_sample(mode)
    assert Image.open(io.BytesIO(data)).mode == mode, "the sample must open in this mode"
    grey = preprocess.decode_image(data, f"x.{fmt.lower()}")
    assert grey.shape == (30, 60) and grey.dtype == np.uint8
    black, middle, white = grey[5, 10], grey[5, 30], grey[5, 50]
    assert black == 0 and white == 255, (mode, black, white)
    if mode != "1":
        assert abs(int(middle) - 128) <= 2, (mode, middle)
    if mode in ("LA", "RGBA", "PA"):
        assert grey[15, 30] == 255, "a transparent pixel is white paper"


def test_the_modes_tested_are_every_mode_pillow_has():
    # A new Pillow mode must be added to the test above (or to MODES_NOT_FROM_FILES).
    assert MODES_NOT_FROM_FILES < set(Image.MODES)


def test_exif_orientation_is_applied_as_viewers_do():
    page = np.full((40, 60), 255, dtype=np.uint8)
    page[5:10, 5:50] = 0  # a bar along the top: stored sideways below
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation 6: the viewer turns the stored image 90 degrees clockwise
    out = io.BytesIO()
    Image.fromarray(np.rot90(page)).save(out, "JPEG", exif=exif, quality=95)  # [60, 40]
    grey = preprocess.decode_image(out.getvalue(), "sideways.jpg")
    assert grey.shape == (40, 60)
    assert np.abs(grey.astype(int) - page).mean() < 8  # JPEG: near, not exact


def a_png(path, width, height):
    """Write a valid all-black greyscale PNG of width x height, compressed as it is made."""

    def chunk(kind, body):
        return (
            len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
        )

    squeeze = zlib.compressobj(1)
    rows = b"".join(squeeze.compress(b"\0" * (1 + width) * 100) for _ in range(height // 100))
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
        + chunk(b"IDAT", rows + squeeze.flush()) + chunk(b"IEND", b"")
    )  # fmt: skip
    return path


def peak_memory_mb(code):
    """Run `code` in a fresh Python (numpy, PIL and mnist_pipeline.apps.preprocess imported); return
    its peak resident memory in MB. VmHWM, not getrusage's ru_maxrss: a child forked from
    this test process (torch loaded) inherits that one's peak."""
    script = f"from mnist_pipeline.apps import preprocess\n{code}\n" + (
        "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1]) / 1024


def test_too_many_pixels_is_refused_from_the_header_naming_file_and_size(tmp_path):
    a_png(tmp_path / "l_12000.png", 12000, 12000)
    with pytest.raises(preprocess.ImageTooLarge) as error:
        preprocess.read_image(tmp_path / "l_12000.png")
    assert str(error.value) == (
        f"{tmp_path / 'l_12000.png'}: 12000x12000 pixels, more than the 50 MP limit"
    )
    assert isinstance(error.value, PipelineError)  # one line and exit 1, like other errors
    # Refused before decoding: decoding it takes 144 MB for the pixels alone.
    peak = peak_memory_mb(
        f"""
try:
    preprocess.read_image({str(tmp_path / "l_12000.png")!r})
except preprocess.ImageTooLarge:
    pass"""
    )
    assert peak < 120, f"{peak:.0f} MB"


def test_large_jpegs_are_decoded_reduced_by_the_decoder(tmp_path):
    Image.new("RGB", (8000, 6000), "white").save(tmp_path / "48mp.jpg", quality=80)  # 48 MP
    assert preprocess.read_image(tmp_path / "48mp.jpg").shape == (1200, 1600)
    # Decoded whole it would take 144 MB (RGB) and 48 MB more (grey); at 1/4 scale, 12.
    peak = peak_memory_mb(f"preprocess.read_image({str(tmp_path / '48mp.jpg')!r})")
    assert peak < 120, f"{peak:.0f} MB"


def test_pillow_s_own_bomb_check_never_surfaces(tmp_path):
    a_png(tmp_path / "l_20000.png", 20000, 20000)  # over twice Pillow's limit: it would raise
    with pytest.raises(preprocess.ImageTooLarge, match="l_20000.png: 20000x20000 pixels, more"):
        preprocess.read_image(tmp_path / "l_20000.png")
    assert Image.MAX_IMAGE_PIXELS == 89478485  # Pillow's limit is back in place afterwards


def test_a_file_too_large_for_an_image_is_refused_without_reading_it_whole(tmp_path):
    """A 1 GB file (sparse: no disk used) and an endless device: one line each, memory kept."""
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as file:
        file.truncate(2**30)
    for path in (huge, Path("/dev/zero")):
        if not path.exists():
            continue
        with pytest.raises(PipelineError, match=f"{path}: more than 268,435,456 bytes, too large"):
            preprocess.read_image(path)


@pytest.fixture(scope="module")
def synthetic_model(tmp_path_factory):
    images, labels = synthetic_split(200, seed=0)
    net, _ = fit(images, labels, train_params(epochs=3, lr=0.05))
    path = tmp_path_factory.mktemp("model") / "model.pt"
    path.write_bytes(checkpoint.checkpoint_bytes(net, {}, NAMES))
    return path


@pytest.mark.heavy
def test_output_cut_short_by_its_reader_is_no_traceback(tmp_path, synthetic_model):
    """`mnist-pipeline predict big.tsv | head -1`: more output than a pipe holds."""
    images, labels = synthetic_split(3000, seed=3)
    (tmp_path / "big.tsv").write_bytes(tsv.encode(images, labels))
    process = subprocess.Popen(
        [sys.executable, "-m", "mnist_pipeline", "predict", "--model", str(synthetic_model),
         str(tmp_path / "big.tsv")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=tool_env(),
    )  # fmt: skip
    assert process.stdout.readline().startswith(str(tmp_path / "big.tsv").encode())
    process.stdout.close()  # as head does after its line
    assert process.wait(timeout=120) == 1
    assert process.stderr.read().decode() == f"predict: {synthetic_model} ({NO_PROJECT})\n"


@pytest.mark.heavy
def test_cli_json_text_tsv_and_errors(tmp_path, synthetic_model):
    images, labels = synthetic_split(3, seed=5)
    Image.fromarray(images[0]).save(tmp_path / "a.png")
    Image.fromarray(images[1]).convert("RGB").save(tmp_path / "b.jpg", quality=95)
    (tmp_path / "c.tsv").write_bytes(tsv.encode(images, labels))
    result = cli(
        "predict",
        "--model",
        synthetic_model,
        "--json",
        tmp_path / "a.png",
        tmp_path / "b.jpg",
        tmp_path / "c.tsv",
    )
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["file"] for o in objects] == [
        str(tmp_path / "a.png"),
        str(tmp_path / "b.jpg"),
        *(f"{tmp_path / 'c.tsv'}:{i}" for i in (1, 2, 3)),
    ]
    blank = cli("predict", "--model", synthetic_model, CASES / "blank_middle.tsv")
    assert blank.returncode == 0, blank.stderr  # line 2 is empty: no image, no prediction
    assert [line.split(": ")[0] for line in blank.stdout.splitlines()] == [
        f"{CASES / 'blank_middle.tsv'}:{line}" for line in (1, 3, 4)
    ]
    # The same file with Windows line ends, followed by an image: both fully classified.
    crlf = tmp_path / "crlf.tsv"
    crlf.write_bytes((CASES / "blank_middle.tsv").read_bytes().replace(b"\n", b"\r\n"))
    both = cli("predict", "--model", synthetic_model, crlf, tmp_path / "a.png")
    assert both.returncode == 0, both.stderr
    assert [line.split(": ")[0] for line in both.stdout.splitlines()] == [
        *(f"{crlf}:{line}" for line in (1, 3, 4)),
        str(tmp_path / "a.png"),
    ]
    for o in objects:
        assert o["predicted"] in NAMES and list(o["probabilities"]) == NAMES
        assert sum(o["probabilities"].values()) == pytest.approx(1, abs=1e-4)

    text = cli("predict", "--model", synthetic_model, tmp_path / "a.png")
    assert text.returncode == 0 and text.stdout.count(",") == 2  # the top three
    assert text.stdout.startswith(f"{tmp_path / 'a.png'}: ")

    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    mixed = cli("predict", "--model", synthetic_model, tmp_path / "bad.png", tmp_path / "a.png")
    assert mixed.returncode == 1 and "Traceback" not in mixed.stderr
    assert mixed.stderr.splitlines()[1].startswith(f"error: {tmp_path / 'bad.png'}: not a readable")
    assert mixed.stdout.count("\n") == 1  # the good image is still classified

    a_png(tmp_path / "bomb.png", 12000, 12000)
    Image.fromarray(images[2]).save(tmp_path / "c.png")
    bomb = cli(
        "predict", "--model", synthetic_model, tmp_path / "a.png", tmp_path / "bomb.png",
        tmp_path / "c.png",
    )  # fmt: skip
    assert bomb.returncode == 1 and [line.split(":")[0] for line in bomb.stdout.splitlines()] == [
        str(tmp_path / "a.png"),
        str(tmp_path / "c.png"),
    ]  # the others are still classified
    assert bomb.stderr.splitlines()[1:] == [
        f"error: {tmp_path / 'bomb.png'}: 12000x12000 pixels, more than the 50 MP limit"
    ]

    missing = cli("predict", "--model", tmp_path / "none.pt", tmp_path / "a.png")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert missing.stderr.startswith(f"error: {tmp_path / 'none.pt'}: model file not found")
    assert "pass --model PATH" in missing.stderr

    # An image given as the model: the project's own refusal, not PyTorch's advice to load
    # it with weights_only=False.
    not_a_model = cli("predict", "--model", tmp_path / "a.png", tmp_path / "a.png")
    assert not_a_model.returncode == 1 and "weights_only" not in not_a_model.stderr
    assert not_a_model.stderr.strip() == (
        f"error: {tmp_path / 'a.png'}: not a safe, readable checkpoint: not a PyTorch file "
        "(expected models/model.pt as the train stage writes it)"
    )


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.heavy
def test_predict_names_its_model_and_that_model_s_test_accuracy_on_stderr(
    tmp_path, synthetic_model
):
    """As `dvc repro` leaves a project: the model, the evaluate stage's metrics, and dvc.lock
    recording both by md5 (DVC's hash of a file is the md5 of its bytes)."""
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    shutil.copy(ROOT / "dvc.yaml", project)  # its vars: paths name the model and the metrics
    model, metrics = project / "models/model.pt", project / "metrics/metrics.json"
    shutil.copy(synthetic_model, model)
    metrics.parent.mkdir()
    metrics.write_text(json.dumps({"test": {"accuracy": 0.875, "n": 40}}))
    evaluate_stage = {
        "cmd": "python stages/evaluate.py ...",
        "deps": [{"path": "models/model.pt", "hash": "md5", "md5": md5(model)}],
        "outs": [{"path": "metrics/metrics.json", "hash": "md5", "md5": md5(metrics)}],
    }
    (project / "dvc.lock").write_text(
        yaml.safe_dump({"schema": "2.0", "stages": {"evaluate": evaluate_stage}})
    )
    Image.fromarray(a_digit()).save(tmp_path / "a.png")

    alone = cli("predict", "--json", "--model", synthetic_model, tmp_path / "a.png")
    assert alone.returncode == 0 and alone.stderr == f"predict: {synthetic_model} ({NO_PROJECT})\n"
    evaluated = cli("predict", "--json", tmp_path / "a.png", cwd=project)
    assert evaluated.returncode == 0, evaluated.stderr
    assert evaluated.stderr == "predict: models/model.pt (test accuracy 0.875, 40 test images)\n"
    assert evaluated.stdout == alone.stdout  # still one JSON object a line, and nothing else
    assert json.loads(evaluated.stdout)["file"] == str(tmp_path / "a.png")

    # Retrained (a `dvc exp run` stopped after train, `dvc repro train`): no stale figure.
    net = checkpoint.load_checkpoint(model).model
    model.write_bytes(checkpoint.checkpoint_bytes(net, {"lr": 0.1}, NAMES))
    retrained = cli("predict", "--json", tmp_path / "a.png", cwd=project)
    assert retrained.returncode == 0 and retrained.stdout.count("\n") == 1
    assert retrained.stderr == "predict: models/model.pt (not evaluated yet: run `dvc repro`)\n"

    # The evaluated model again, but metrics from elsewhere (another commit's, say).
    shutil.copy(synthetic_model, model)
    metrics.write_text(json.dumps({"test": {"accuracy": 0.5, "n": 40}}))
    other = cli("predict", "--model", "models/model.pt", tmp_path / "a.png", cwd=project)
    assert other.stderr == (
        "predict: models/model.pt "
        "(metrics/metrics.json changed since its evaluation: run `dvc repro`)\n"
    )


@pytest.mark.slow
def test_the_fake_image_as_png_is_a_four(shipped_run, tmp_path):
    repo, _, _ = shipped_run
    Image.fromarray(evaluate.fake_image()).save(tmp_path / "fake.png")
    result = cli("predict", "--json", tmp_path / "fake.png", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["predicted"] == "four"
    # The real dvc.lock records the model and metrics as this process hashes them.
    test = json.loads((repo / "metrics/metrics.json").read_text())["test"]
    assert result.stderr == (
        f"predict: models/model.pt (test accuracy {test['accuracy']:.3f}, "
        f"{test['n']} test images)\n"
    )


@pytest.mark.slow
def test_real_digits_as_png_agree_with_the_evaluate_stage(shipped_run, tmp_path):
    repo, _, _ = shipped_run
    images, _ = idx.read_split(real_mnist_file(TEST_IMAGES), real_mnist_file(TEST_LABELS), 10)
    images = images[:300]
    net = checkpoint.load_checkpoint(repo / "models/model.pt").model
    expected = [
        NAMES[i] for i in inference.predict_logits(net, to_input(images)).argmax(dim=1).numpy()
    ]

    variants = {"white-on-black": lambda x: x, "black-on-white": lambda x: 255 - x}

    def off_centre(x):
        page = np.zeros((64, 48), dtype=np.uint8)
        page[33:61, 2:30] = x  # bottom left of a bigger page
        return page

    variants["off-centre"] = off_centre
    for variant, make in variants.items():
        paths = []
        for i, image in enumerate(images):
            paths.append(tmp_path / f"{variant}-{i}.png")
            Image.fromarray(make(image)).save(paths[-1])
        result = cli("predict", "--json", "--model", repo / "models/model.pt", *paths)
        assert result.returncode == 0, result.stderr
        got = [json.loads(line)["predicted"] for line in result.stdout.splitlines()]
        agreement = np.mean(np.array(got) == np.array(expected))
        assert agreement >= 0.98, f"{variant}: {agreement:.3f}"


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", ["exif6_seven.jpg", "g16_seven.png", "photo_seven_grad180.jpg"]
)  # a sideways phone JPEG; a 16-bit PNG; a 1200x1600 page lit from 235 down to 180
def test_the_reported_images_are_sevens(shipped_run, case):
    repo, _, _ = shipped_run
    result = cli("predict", "--json", CASES / case, cwd=repo)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["predicted"] == "seven"


@pytest.mark.slow
def test_photos_are_read_about_as_well_as_the_same_digits_clean(shipped_run):
    """200 real test digits as photo-like JPEGs (tests/photos.py) and as clean black-on-white
    PNGs of the same size and place: the photos lose at most 3 points of accuracy."""
    repo, _, _ = shipped_run
    if not (real_mnist_file(TEST_IMAGES) and real_mnist_file(TEST_LABELS)):
        pytest.skip(NO_REAL_MNIST)
    images, labels = idx.read_split(real_mnist_file(TEST_IMAGES), real_mnist_file(TEST_LABELS), 10)
    picked = np.random.default_rng(1).choice(len(images), 200, replace=False)
    saved = checkpoint.load_checkpoint(repo / "models/model.pt")
    net = saved.model
    pairs = [photos.photo_and_clean(images[i], seed=int(i), page=(900, 1200)) for i in picked]

    def accuracy(files):
        prepared = np.stack(
            [preprocess.to_mnist(preprocess.decode_image(f, "x"), "x") for f in files]
        )
        got = [r["predicted"] for r in inference.classify(net, prepared, saved.class_names)]
        return np.mean(np.array(got) == np.array([NAMES[y] for y in labels[picked]]))

    clean, photo = accuracy([c for _, c in pairs]), accuracy([p for p, _ in pairs])
    assert clean >= 0.85, f"clean {clean:.3f}: the clean pages themselves are misread"
    assert photo >= clean - 0.03, f"photo {photo:.3f}, clean {clean:.3f}"


def test_report_prints_where_results_are_and_the_accuracies(tmp_path):
    metrics = {
        split: {"accuracy": acc, "accuracy_ci95_low": 0.9, "accuracy_ci95_high": 0.99, "n": n}
        for split, acc, n in [("train", 0.969, 1000), ("test", 0.98, 100)]
    }
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    result = cli("report", "--metrics", tmp_path / "metrics.json")
    assert result.returncode == 0, result.stderr
    assert "train accuracy 0.9690" in result.stdout and "test accuracy 0.9800" in result.stdout
    assert result.stdout.startswith(f"Results in {tmp_path / 'metrics.json'}:")  # the file used
    (tmp_path / "bad.json").write_text("[]")
    bad = cli("report", "--metrics", tmp_path / "bad.json")
    assert bad.returncode == 1 and "not a metrics file written by the evaluate stage" in bad.stderr


@pytest.mark.heavy
def test_the_default_model_and_metrics_are_the_paths_dvc_yaml_names(tmp_path):
    (tmp_path / "dvc.yaml").write_text(
        "vars:\n  - paths:\n      model: trained/net.pt\n      metrics: results/m.json\n"
    )
    missing = cli("predict", "a.png", cwd=tmp_path)
    assert missing.stderr.startswith("error: trained/net.pt: model file not found"), missing
    assert cli("report", cwd=tmp_path).stderr.startswith("error: results/m.json")

    (tmp_path / "elsewhere").mkdir()
    outside = cli("predict", "a.png", cwd=tmp_path / "elsewhere")
    assert outside.returncode == 1 and outside.stderr.count("\n") == 1
    assert "no pipeline's `vars: paths` found: run this in the project's folder" in outside.stderr
