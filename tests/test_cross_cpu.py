"""Portable numerics give the same bytes on other x86-64 CPUs: a very small train-and-evaluate
(tests/cross_cpu.py) runs natively and under Debian's qemu-user as an Intel Haswell (AVX2) and
an AMD EPYC Rome. Emulation is slow (minutes), so the three emulated runs go at once."""

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import cpu_has

SCRIPT = Path(__file__).with_name("cross_cpu.py")
QEMU = shutil.which("qemu-x86_64")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(platform.machine() != "x86_64", reason="emulates x86-64 CPUs on x86-64"),
    pytest.mark.skipif(QEMU is None, reason="needs Debian's qemu-user (.ci/run installs it)"),
]


@pytest.fixture(scope="module")
def runs():
    """{(cpu, numerics): hashes}, cpu None for the host; all runs started together."""
    wanted = [(None, "portable"), (None, "native"), ("Haswell", "portable"),
              ("EPYC-Rome", "portable"), ("Haswell", "native")]  # fmt: skip
    started = {
        (cpu, numerics): subprocess.Popen(
            ([QEMU, "-cpu", cpu] if cpu else []) + [sys.executable, str(SCRIPT), numerics],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cpu, numerics in wanted
    }
    results = {}
    for key, process in started.items():
        out, err = process.communicate(timeout=900)
        assert process.returncode == 0, f"{key}: {err[-2000:]}"
        results[key] = json.loads(out.strip().splitlines()[-1])
    return results


@pytest.mark.parametrize("cpu", ["Haswell", "EPYC-Rome"])
def test_portable_numerics_give_the_same_bytes_on_an_emulated_cpu(runs, cpu):
    assert runs[(cpu, "portable")] == runs[(None, "portable")]


def test_native_numerics_differ_where_the_host_has_faster_kernels(runs):
    """Shows the comparison can fail: without the caps, AVX-512 kernels change the bits."""
    if not cpu_has("avx512f"):
        pytest.skip("the host has no AVX-512: its native kernels are an emulated Haswell's too")
    host, haswell = runs[(None, "native")], runs[("Haswell", "native")]
    assert host["model"] != haswell["model"] and host["logits"] != haswell["logits"]
