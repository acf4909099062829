import io
import zipfile

import numpy as np
import pytest
import torch

from mnist_pipeline.checkpoint import checkpoint_bytes, load_checkpoint
from mnist_pipeline.datasets import DATASETS, FILE_NAMES, MNIST
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.evaluate import fake_image
from mnist_pipeline.model import MnistCnn, to_input

NAMES = [str(i) for i in range(10)]


def test_output_shape_and_layers():
    model = MnistCnn().eval()
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert model.fc1.in_features == 1024
    assert [model.fc1.out_features, model.fc2.out_features] == [512, 256]
    assert (model.dropout_conv.p, model.dropout_fc.p) == (0.25, 0.5)


def test_fake_image_is_the_designs():
    image = fake_image()
    assert image.shape == (28, 28) and image.dtype == np.uint8
    assert image[5, 9] == 180 and image[22, 9] == 180 and image[4, 9] == 0 and image[23, 9] == 0
    # Drawn in the design's order, the horizontal bar is drawn last and wins at (14, 14).
    assert all(image[r, r] == 250 for r in range(9, 19) if r != 14) and image[19, 19] == 0
    assert list(image[14, 4:16]) == [0] + [200] * 10 + [0]
    assert np.count_nonzero(image) == 18 + 10 + 10 - 3  # overlaps: (9, 9), (14, 9), (14, 14)
    scaled = to_input(image[None])
    assert scaled.shape == (1, 1, 28, 28) and float(scaled.max()) == pytest.approx(250 / 255)


def test_checkpoint_round_trip(tmp_path):
    model = MnistCnn()
    (tmp_path / "m.pt").write_bytes(checkpoint_bytes(model, {"lr": 0.1}, NAMES))
    saved = load_checkpoint(tmp_path / "m.pt")
    assert saved.params == {"lr": 0.1} and saved.class_names == NAMES
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(saved.model(x), model.eval()(x))


def test_checkpoint_bytes_depend_on_the_params_values_not_on_their_objects():
    """pickle writes a string shared with torch's own 'cpu' (an interned one, as a Literal
    validator returns) once, and a fresh copy in full: the file must not tell them apart."""
    net = MnistCnn()
    fresh = "".join(["c", "pu"])
    assert fresh == "cpu" and fresh is not "cpu"  # noqa: F632 (the point of the test)
    names = DATASETS["mnist"].class_names
    interned_bytes = checkpoint_bytes(net, {"device": "cpu"}, list(names))
    assert interned_bytes == checkpoint_bytes(net, {"device": fresh}, list(names))


def test_other_architecture_and_missing_keys_are_explained(tmp_path):
    state = MnistCnn().state_dict()
    torch.save(
        {"architecture": "ResNet", "state_dict": state, "params": {}, "class_names": NAMES},
        tmp_path / "a.pt",
    )
    with pytest.raises(PipelineError, match="architecture 'ResNet', expected 'MnistCnn'"):
        load_checkpoint(tmp_path / "a.pt")
    torch.save({"state_dict": state}, tmp_path / "b.pt")
    with pytest.raises(PipelineError, match="checkpoint keys \\['state_dict'\\], expected"):
        load_checkpoint(tmp_path / "b.pt")
    del state["fc3.bias"]
    torch.save(
        {"architecture": "MnistCnn", "state_dict": state, "params": {}, "class_names": NAMES},
        tmp_path / "c.pt",
    )
    with pytest.raises(PipelineError, match="weights do not match MnistCnn: .*fc3.bias"):
        load_checkpoint(tmp_path / "c.pt")


def _odd_weights(kind: str) -> dict:
    state = MnistCnn().state_dict()
    match kind:
        case "sparse":
            state["fc3.bias"] = state["fc3.bias"].to_sparse()
        case "half":
            state["fc3.bias"] = state["fc3.bias"].half()
        case "nan":
            state["fc3.weight"] = torch.full_like(state["fc3.weight"], float("nan"))
        case "int key":
            state[3] = state.pop("fc3.bias")
    return state


@pytest.mark.parametrize(
    "kind, message",
    [
        ("sparse", "fc3.bias: expected dense float32 weights, got torch.sparse_coo"),
        ("half", "fc3.bias: expected dense float32 weights, got torch.strided torch.float16"),
        ("nan", "fc3.weight: weights that are not finite"),
        ("int key", "state_dict: expected names, got 3"),
    ],
)
def test_weights_the_network_cannot_take_as_they_are_are_refused_in_one_line(
    tmp_path, kind, message
):
    saved = {"architecture": "MnistCnn", "state_dict": _odd_weights(kind), "params": {}}
    torch.save({**saved, "class_names": NAMES}, tmp_path / "odd.pt")
    with pytest.raises(PipelineError, match=message):
        load_checkpoint(tmp_path / "odd.pt")


class _Exploit:
    """Unpickling this would create a marker file: a stand-in for arbitrary code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_checkpoint_that_runs_code_is_refused_and_the_code_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"architecture": "MnistCnn", "payload": _Exploit(marker)}, tmp_path / "evil.pt")
    assert not marker.exists()
    with pytest.raises(PipelineError, match="evil.pt: not a safe, readable checkpoint: it holds"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()
    # The same file does run code under a plain pickle load: the test's exploit is real.
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


def test_garbage_and_missing_files(tmp_path):
    (tmp_path / "g.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(PipelineError, match="g.pt: not a safe, readable checkpoint"):
        load_checkpoint(tmp_path / "g.pt")
    with pytest.raises(PipelineError, match="model file not found"):
        load_checkpoint(tmp_path / "none.pt")


def test_the_default_network_has_mnist_s_ten_outputs_as_the_shipped_checkpoint():
    assert MnistCnn().fc3.out_features == MNIST.num_classes == 10


@pytest.mark.parametrize("dataset", DATASETS.values(), ids=list(DATASETS))
def test_each_data_set_is_whole_and_its_network_round_trips(dataset, tmp_path):
    """Every entry, present and future: distinct class names, an md5 for each file, and a
    network with one output a class that saves and loads with those names."""
    names = list(dataset.class_names)
    assert len(set(names)) == dataset.num_classes >= 2
    assert set(dataset.md5) == set(FILE_NAMES)
    assert all(len(md5) == 32 and int(md5, 16) >= 0 for md5 in dataset.md5.values())
    model = MnistCnn(dataset.num_classes)
    (tmp_path / "m.pt").write_bytes(checkpoint_bytes(model, {}, names))
    saved = load_checkpoint(tmp_path / "m.pt")
    x = torch.rand(2, 1, 28, 28)
    assert saved.class_names == names and saved.model(x).shape == (2, dataset.num_classes)


def test_class_names_that_do_not_match_the_outputs_are_explained(tmp_path):
    (tmp_path / "m.pt").write_bytes(checkpoint_bytes(MnistCnn(), {}, [f"c{i}" for i in range(26)]))
    with pytest.raises(PipelineError, match="m.pt: 26 class names, but the weights have 10 out"):
        load_checkpoint(tmp_path / "m.pt")


def test_a_checkpoint_in_torch_s_legacy_format_loads(tmp_path):
    model = MnistCnn()
    saved = {"architecture": "MnistCnn", "state_dict": model.state_dict(), "params": {}}
    with open(tmp_path / "legacy.pt", "wb") as out:
        torch.save({**saved, "class_names": NAMES}, out, _use_new_zipfile_serialization=False)
    assert not (tmp_path / "legacy.pt").read_bytes().startswith(b"PK")  # really not a zip
    saved = load_checkpoint(tmp_path / "legacy.pt")
    x = torch.rand(2, 1, 28, 28)
    assert saved.class_names == NAMES and torch.equal(saved.model(x), model.eval()(x))


def test_refusals_say_what_the_file_is(tmp_path):
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("notes.txt", "hello")
    legacy = io.BytesIO()
    torch.save({"a": 1}, legacy, _use_new_zipfile_serialization=False)
    kinds = {
        "empty.pt": (b"", "an empty file"),
        "notes.pt": (b"weights: none\n", "a text file"),
        "archive.pt": (
            zipped.getvalue(),
            "a zip file but not a whole PyTorch checkpoint (cut short, or another zip)",
        ),
        "cut.pt": (legacy.getvalue()[:40], "a legacy PyTorch file, damaged or cut short"),
        "noise.pt": (bytes(range(256)), "not a PyTorch file"),
    }
    for name, (data, what) in kinds.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(PipelineError) as error:
            load_checkpoint(tmp_path / name)
        assert str(error.value) == (
            f"{tmp_path / name}: not a safe, readable checkpoint: {what} "
            "(expected models/model.pt as the train stage writes it)"
        )
