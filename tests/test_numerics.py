"""The numerics switch: where it is applied, and what a checkpoint records."""

import subprocess
import sys

import pytest
import torch

from helpers import ROOT, cpu_has
from mnist_pipeline import checkpoint
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.model import MnistCnn

NAMES = [str(k) for k in range(10)]


@pytest.mark.parametrize(
    "recorded, expected",
    [
        ({"numerics": "portable", "threads": 2}, ("portable", 2)),
        ({"numerics": "native", "threads": 1}, ("native", 1)),
        # Written before train.numerics existed: trained natively.
        ({"lr": 0.005, "threads": 1}, ("native", 1)),
    ],
)
def test_a_checkpoint_tells_the_numerics_and_threads_it_was_trained_with(
    tmp_path, recorded, expected
):
    path = tmp_path / "model.pt"
    path.write_bytes(checkpoint.checkpoint_bytes(MnistCnn(), recorded, NAMES))
    saved = checkpoint.load_checkpoint(path)
    assert (saved.numerics, saved.threads) == expected


def _process_state() -> tuple:
    import os

    return (
        dict(os.environ), torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
        torch.backends.cpu.get_cpu_capability(), torch.get_default_dtype(),
    )  # fmt: skip


def test_loading_a_checkpoint_changes_nothing_in_the_process(tmp_path):
    """A loader returns what it read: the caller configures the process (numerics.configure)."""
    path = tmp_path / "model.pt"
    recorded = {"numerics": "native", "threads": 3}  # unlike this process: portable, 1 thread
    model = MnistCnn().eval()
    path.write_bytes(checkpoint.checkpoint_bytes(model, recorded, NAMES))
    torch.set_num_threads(2)
    try:
        before = _process_state()
        saved = checkpoint.load_checkpoint(path)
        assert _process_state() == before
    finally:
        torch.set_num_threads(1)
    x = torch.rand(2, 1, 28, 28)
    assert not saved.model.training and torch.equal(saved.model(x), model(x))


def test_unknown_recorded_numerics_are_refused(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(checkpoint.checkpoint_bytes(MnistCnn(), {"numerics": "bf16"}, NAMES))
    with pytest.raises(PipelineError, match="numerics 'bf16', expected 'portable' or 'native'"):
        checkpoint.load_checkpoint(path)


SHOW_KERNELS = """
import sys
sys.path.insert(0, {src!r})
import torch  # imported first, as the stage scripts do: the settings must still apply
from mnist_pipeline import numerics
numerics.configure(sys.argv[1], 3)
torch.ones(8).sum()  # a first computation
print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads())
"""


def _kernels(numerics: str, env: dict) -> str:
    script = SHOW_KERNELS.format(src=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, "-c", script, numerics], env=env, capture_output=True, text=True,
        check=True,
    ).stdout.split()  # fmt: skip


@pytest.mark.heavy
def test_portable_caps_the_kernels_whatever_the_starting_environment():
    """A shell that asks for AVX-512 gets AVX2 kernels in portable mode, and native mode ignores
    a shell that caps them; the thread count is the one asked for."""
    shell = {"PATH": "/usr/bin:/bin", "ATEN_CPU_CAPABILITY": "avx512"}
    capability, threads = _kernels("portable", shell)
    assert threads == "3"
    assert capability in ("AVX2", "DEFAULT")  # DEFAULT: a CPU without AVX2
    if cpu_has("avx512f"):
        assert _kernels("native", {"PATH": "/usr/bin:/bin", "ATEN_CPU_CAPABILITY": "avx2"})[
            0
        ].startswith("AVX512")


@pytest.mark.heavy
def test_configure_after_a_native_computation_is_an_error():
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'src')!r}); import torch;"
        "from mnist_pipeline import numerics; numerics.configure('native', 1); torch.ones(8).sum();"
        "numerics.configure('portable', 1)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env={"PATH": "/usr/bin:/bin"}, capture_output=True,
        text=True,
    )  # fmt: skip
    if not cpu_has("avx512f"):
        pytest.skip("without AVX-512, native and portable ATen kernels are the same")
    assert result.returncode != 0 and "called after torch first computed" in result.stderr


@pytest.mark.parametrize(
    "params, names, message",
    [
        ({"threads": 0}, NAMES, "threads 0, expected an integer from 1 to 256"),
        ({"threads": "abc"}, NAMES, "threads 'abc', expected an integer from 1 to 256"),
        ({"threads": None}, NAMES, "threads None, expected an integer from 1 to 256"),
        ({"threads": 2**40}, NAMES, "expected an integer from 1 to 256"),
        ({}, NAMES[:3], "3 class names, but the weights have 10 outputs"),
        ({}, [*NAMES, "ten"], "11 class names, but the weights have 10 outputs"),
        ({}, [], "class_names: expected a list of names"),
    ],
)
def test_a_checkpoint_with_bad_fields_is_refused_in_one_line(tmp_path, params, names, message):
    path = tmp_path / "model.pt"
    path.write_bytes(checkpoint.checkpoint_bytes(MnistCnn(), params, names))
    with pytest.raises(PipelineError, match=message):
        checkpoint.load_checkpoint(path)


@pytest.mark.parametrize(
    "precision, numerics_, device, native, expected",
    [
        ("auto", "native", "cpu", True, "bf16"),
        ("auto", "native", "cpu", False, "fp32"),
        # The portable caps keep a CPU to AVX2, which has no bf16: fp32 even on bf16 hardware.
        ("auto", "portable", "cpu", True, "fp32"),
        ("auto", "portable", "cuda", True, "bf16"),  # portable caps only the CPU's kernels
        ("auto", "native", "cuda", False, "fp32"),
        ("fp32", "native", "cpu", True, "fp32"),
        ("bf16", "native", "cpu", False, "bf16"),  # asked for: done, with a warning (train)
        ("bf16", "portable", "cpu", True, "bf16"),
    ],
)
def test_auto_precision_is_a_rule_of_the_hardware_flags(
    precision, numerics_, device, native, expected
):
    from mnist_pipeline import numerics

    assert numerics.choose_precision(precision, numerics_, device, native)[0] == expected


@pytest.mark.parametrize(
    "numerics_, device, native, emulated",
    [
        ("native", "cpu", True, False),
        ("native", "cpu", False, True),
        ("portable", "cpu", True, True),
        ("portable", "cuda", True, False),
    ],
)
def test_bf16_is_emulated_without_native_bf16_or_in_portable_cpu_numerics(
    numerics_, device, native, emulated
):
    from mnist_pipeline import numerics

    assert numerics.bf16_emulated(numerics_, device, native) == emulated


def test_the_cpu_feature_helpers_exist_in_this_torch():
    """numerics.cpu_flags reads private torch.cpu helpers; a torch without them would make
    `auto` fp32 everywhere, silently: this is where it shows."""
    import torch

    assert callable(torch.cpu._is_amx_tile_supported)
    assert callable(torch.cpu._is_avx512_bf16_supported)
    if cpu_has("avx512_bf16"):
        from mnist_pipeline import numerics

        assert "avx512_bf16" in numerics.cpu_flags()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_checkpoint_records_the_precision_it_was_trained_in(tmp_path, precision):
    model = MnistCnn()
    model.precision = precision
    path = tmp_path / "model.pt"
    path.write_bytes(checkpoint.checkpoint_bytes(model, {"numerics": "native"}, NAMES))
    assert checkpoint.load_checkpoint(path).model.precision == precision


def test_a_checkpoint_from_before_train_precision_loads_as_fp32(tmp_path):
    import io

    import torch

    old = {"architecture": "MnistCnn", "state_dict": MnistCnn().state_dict(), "params": {},
           "class_names": NAMES}  # fmt: skip
    buffer = io.BytesIO()
    torch.save(old, buffer)
    (tmp_path / "old.pt").write_bytes(buffer.getvalue())
    assert checkpoint.load_checkpoint(tmp_path / "old.pt").model.precision == "fp32"


def test_an_unknown_recorded_precision_is_refused(tmp_path):
    model = MnistCnn()
    model.precision = "fp16"
    (tmp_path / "model.pt").write_bytes(checkpoint.checkpoint_bytes(model, {}, NAMES))
    with pytest.raises(PipelineError, match="precision 'fp16', expected 'fp32' or 'bf16'"):
        checkpoint.load_checkpoint(tmp_path / "model.pt")


TRAIN_BF16_TWICE = """
import sys
sys.path.insert(0, {src!r}); sys.path.insert(0, {tests!r})
from helpers import fit, synthetic_split, train_params
from mnist_pipeline.checkpoint import checkpoint_bytes
from mnist_pipeline.numerics import configure
configure("native", 2)
params = train_params(epochs=1.5, batch_size=16, lr=0.003, optimizer="adamw",
                      schedule="onecycle", numerics="native", precision="bf16", threads=2)
images, labels = synthetic_split(200, seed=0)
runs = [fit(images, labels, params) for _ in range(2)]
print(runs[0][0].precision, checkpoint_bytes(runs[0][0], {{}}, list("0123456789"))
      == checkpoint_bytes(runs[1][0], {{}}, list("0123456789")), runs[0][1] == runs[1][1])
"""


@pytest.mark.heavy
def test_bf16_training_is_deterministic_on_rerun():
    """Two trainings in bf16 on the same machine give the same bytes (fp32's are checked in
    test_train_evaluate.py). In its own process: bf16 needs native numerics, and this one
    computed in portable."""
    from mnist_pipeline import numerics

    if not numerics.native_bf16(torch.device("cpu")):
        pytest.skip("this CPU has no native bf16 (AMX or AVX512-BF16)")
    script = TRAIN_BF16_TWICE.format(src=str(ROOT / "src"), tests=str(ROOT / "tests"))
    result = subprocess.run(
        [sys.executable, "-c", script], env={"PATH": "/usr/bin:/bin"}, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    assert result.stdout.split() == ["bf16", "True", "True"]
