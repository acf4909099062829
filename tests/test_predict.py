import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import fit, real_mnist_file, synthetic_split, tool_env
from mnist_pipeline import checkpoint, evaluate, idx, inference, predict, tsv
from mnist_pipeline.datasets import TEST_IMAGES, TEST_LABELS
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.model import to_input
from mnist_pipeline.params import TrainParams

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


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
    out = predict.to_mnist(a_digit(), "x")
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
    expected = predict.to_mnist(digit, "x")
    assert np.array_equal(predict.to_mnist(255 - digit, "x"), expected)
    assert np.array_equal(predict.to_mnist(canvas, "x"), predict.to_mnist(canvas[50:78, 3:31], "x"))
    assert np.abs(predict.to_mnist(255 - canvas, "x").astype(int) - expected).max() <= 1


def test_blank_and_non_images_are_errors(tmp_path):
    with pytest.raises(PipelineError, match="blank.png: no digit found"):
        predict.to_mnist(np.full((40, 40), 250, dtype=np.uint8), "blank.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(PipelineError, match="notes.png: not a readable image"):
        predict.read_image(tmp_path / "notes.png")


def test_transparent_png_is_read_as_ink_on_white(tmp_path):
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)
    rgba[..., 3][a_digit() > 0] = 255  # black ink, transparent elsewhere
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    gray = predict.read_image(tmp_path / "t.png")
    assert gray[0, 0] == 255 and gray[10, 13] == 0


@pytest.fixture(scope="module")
def synthetic_model(tmp_path_factory):
    images, labels = synthetic_split(200, seed=0)
    net, _ = fit(images, labels, TrainParams(epochs=3, lr=0.05))
    path = tmp_path_factory.mktemp("model") / "model.pt"
    path.write_bytes(checkpoint.checkpoint_bytes(net, {}, NAMES))
    return path


def test_cli_json_text_tsv_and_errors(tmp_path, synthetic_model):
    images, labels = synthetic_split(3, seed=5)
    Image.fromarray(images[0]).save(tmp_path / "a.png")
    Image.fromarray(images[1]).convert("RGB").save(tmp_path / "b.jpg", quality=95)
    tsv.write(tmp_path / "c.tsv", images, labels)
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
    for o in objects:
        assert o["predicted"] in NAMES and list(o["probabilities"]) == NAMES
        assert sum(o["probabilities"].values()) == pytest.approx(1, abs=1e-4)

    text = cli("predict", "--model", synthetic_model, tmp_path / "a.png")
    assert text.returncode == 0 and text.stdout.count(",") == 2  # the top three
    assert text.stdout.startswith(f"{tmp_path / 'a.png'}: ")

    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    mixed = cli("predict", "--model", synthetic_model, tmp_path / "bad.png", tmp_path / "a.png")
    assert mixed.returncode == 1 and "Traceback" not in mixed.stderr
    assert mixed.stderr.startswith(f"error: {tmp_path / 'bad.png'}: not a readable image")
    assert mixed.stdout.count("\n") == 1  # the good image is still classified

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


@pytest.mark.slow
def test_the_fake_image_as_png_is_a_four(shipped_run, tmp_path):
    repo, _, _ = shipped_run
    Image.fromarray(evaluate.fake_image()).save(tmp_path / "fake.png")
    result = cli("predict", "--json", tmp_path / "fake.png", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["predicted"] == "four"


@pytest.mark.slow
def test_real_digits_as_png_agree_with_the_evaluate_stage(shipped_run, tmp_path):
    repo, _, _ = shipped_run
    images, _ = idx.read_split(real_mnist_file(TEST_IMAGES), real_mnist_file(TEST_LABELS))
    images = images[:300]
    net, _ = checkpoint.load_checkpoint(repo / "models/model.pt")
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
