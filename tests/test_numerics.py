"""The numerics switch: where it is applied, and what a checkpoint records."""

import subprocess
import sys

import pytest

from helpers import ROOT, cpu_has
from mnist_pipeline import checkpoint
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.model import MnistCnn

NAMES = [str(k) for k in range(10)]


@pytest.fixture
def configured(monkeypatch):
    """Record numerics.configure's calls from load_checkpoint instead of making them."""
    calls = []
    monkeypatch.setattr(checkpoint, "configure", lambda *args: calls.append(args))
    return calls


@pytest.mark.parametrize(
    "recorded, expected",
    [
        ({"numerics": "portable", "threads": 2}, ("portable", 2)),
        ({"numerics": "native", "threads": 1}, ("native", 1)),
        # Written before train.numerics existed: trained natively.
        ({"lr": 0.005, "threads": 1}, ("native", 1)),
    ],
)
def test_a_checkpoint_is_used_with_the_numerics_and_threads_it_was_trained_with(
    tmp_path, configured, recorded, expected
):
    path = tmp_path / "model.pt"
    path.write_bytes(checkpoint.checkpoint_bytes(MnistCnn(), recorded, NAMES))
    checkpoint.load_checkpoint(path)
    assert configured == [expected]


def test_unknown_recorded_numerics_are_refused(tmp_path, configured):
    path = tmp_path / "model.pt"
    path.write_bytes(checkpoint.checkpoint_bytes(MnistCnn(), {"numerics": "bf16"}, NAMES))
    with pytest.raises(PipelineError, match="numerics 'bf16', expected 'portable' or 'native'"):
        checkpoint.load_checkpoint(path)
    assert configured == []


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
        ({}, NAMES[:3], "class_names: expected a list of 10 names"),
        ({}, [*NAMES, "ten"], "class_names: expected a list of 10 names"),
    ],
)
def test_a_checkpoint_with_bad_fields_is_refused_in_one_line(
    tmp_path, configured, params, names, message
):
    path = tmp_path / "model.pt"
    path.write_bytes(checkpoint.checkpoint_bytes(MnistCnn(), params, names))
    with pytest.raises(PipelineError, match=message):
        checkpoint.load_checkpoint(path)
    assert configured == []
