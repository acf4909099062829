"""The checkpoint format: weights, architecture name, training params, class names and the
precision trained in, in a file that loads with torch.load(weights_only=True), so loading runs
no code from the file."""

from __future__ import annotations

import codecs
import io
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import PipelineError
from .files import read_bytes
from .model import MnistCnn
from .params import Numerics

ARCHITECTURE = "MnistCnn"
CHECKPOINT_KEYS = {"architecture", "state_dict", "params", "class_names"}
# Recorded since train.precision: train.precision as resolved on the training machine (its
# params say only "auto"). Absent from older checkpoints, which were all trained in fp32.
PRECISIONS = ("fp32", "bf16")
ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip file...
# ...or, with _use_new_zipfile_serialization=False (torch's legacy format, which older code
# and other tools still write), a pickle that starts with torch's magic number.
LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def checkpoint_bytes(model: MnistCnn, params: dict, class_names: list[str]) -> bytes:
    """A self-describing checkpoint that loads with weights_only=True (no code is unpickled),
    recording the precision `model` was trained in.

    Saved through memory: torch.save names the zip's folder after the file it writes, so
    saving to a temporary file name would make the bytes differ from run to run. The params
    go through JSON first: pickle writes a string once per object, not once per value, so
    an interned 'cpu' (a Literal's, say) shared with torch's own device names changes the
    bytes; fresh copies make them depend on the values alone.
    """
    params = json.loads(json.dumps(params))
    buffer = io.BytesIO()
    torch.save(
        {
            "architecture": ARCHITECTURE,
            "state_dict": model.state_dict(),
            "params": params,
            "class_names": list(class_names),
            "precision": model.precision,
        },
        buffer,
    )
    return buffer.getvalue()


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint file holds, checked: the network with its weights (on the CPU, in eval
    mode, in the precision it was trained in), the train params it recorded, the class names,
    and the numerics and thread count to compute with as train did."""

    model: MnistCnn
    params: dict
    class_names: list[str]
    numerics: Numerics
    threads: int


def load_checkpoint(path: Path) -> Checkpoint:
    """Load a checkpoint safely and check it; changes nothing in the process (no numerics, no
    thread count: the caller configures those first, numerics.configure).

    Both of torch.save's formats load (zip, and the legacy pickle); anything else is refused
    with a PipelineError saying what the file is (empty, text, a zip of something else...).
    The network is built on torch's meta device and given the file's tensors, so loading
    computes nothing, not even a weight initialisation. Checkpoints from before
    `train.numerics` were trained natively on 1 thread, and those from before
    `train.precision` in fp32.
    """
    data = read_bytes(path, "model file")
    if not data.startswith((ZIP_MAGIC, LEGACY_MAGIC)):
        raise _refusal(path, data)
    try:
        checkpoint = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # PyTorch's own message advises weights_only=False, the one thing never to do here.
        raise PipelineError(
            f"{path}: not a safe, readable checkpoint: it holds objects other than weights, "
            "which could run code when loaded, so it is refused"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError):
        raise _refusal(path, data) from None
    if not isinstance(checkpoint, dict) or not CHECKPOINT_KEYS <= checkpoint.keys():
        found = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise PipelineError(f"{path}: checkpoint keys {found}, expected {sorted(CHECKPOINT_KEYS)}")
    if checkpoint["architecture"] != ARCHITECTURE:
        raise PipelineError(
            f"{path}: architecture {checkpoint['architecture']!r}, expected {ARCHITECTURE!r}"
        )
    names = checkpoint["class_names"]
    if not (isinstance(names, list) and names and all(isinstance(name, str) for name in names)):
        raise PipelineError(f"{path}: class_names: expected a list of names")
    weights = checkpoint["state_dict"]
    if not isinstance(weights, dict):
        raise PipelineError(f"{path}: state_dict: expected a mapping of names to tensors")
    # The network is built with one output a class name (any other mismatch of shapes is
    # load_state_dict's to name): say so in the data set's terms.
    outputs = weights.get("fc3.bias")
    if isinstance(outputs, torch.Tensor) and outputs.dim() == 1 and len(outputs) != len(names):
        raise PipelineError(
            f"{path}: {len(names)} class names, but the weights have {len(outputs)} outputs"
        )
    # Taken as they are (assign=True below), so they must already be what train writes: named,
    # dense float32 and finite (checked with numpy: torch must not compute before configure).
    for name, tensor in weights.items():
        if not isinstance(name, str):
            raise PipelineError(f"{path}: state_dict: expected names, got {name!r}")
        if not isinstance(tensor, torch.Tensor):
            continue  # load_state_dict names it below
        if tensor.layout != torch.strided or tensor.dtype != torch.float32:
            raise PipelineError(
                f"{path}: {name}: expected dense float32 weights, got {tensor.layout} "
                f"{tensor.dtype}"
            )
        if not np.isfinite(tensor.numpy()).all():
            raise PipelineError(f"{path}: {name}: weights that are not finite (NaN or infinite)")
    precision = checkpoint.get("precision", "fp32")
    if precision not in PRECISIONS:
        raise PipelineError(f"{path}: precision {precision!r}, expected 'fp32' or 'bf16'")
    params = checkpoint["params"] if isinstance(checkpoint["params"], dict) else {}
    numerics, threads = params.get("numerics", "native"), params.get("threads", 1)
    if numerics not in ("portable", "native"):
        raise PipelineError(f"{path}: numerics {numerics!r}, expected 'portable' or 'native'")
    if not (isinstance(threads, int) and not isinstance(threads, bool) and 1 <= threads <= 256):
        raise PipelineError(f"{path}: threads {threads!r}, expected an integer from 1 to 256")
    with torch.device("meta"):  # no initialisation: the weights come from the file
        model = MnistCnn(len(names))
    model.precision = precision
    try:
        model.load_state_dict(weights, assign=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        raise PipelineError(f"{path}: weights do not match {ARCHITECTURE}: {detail}") from None
    return Checkpoint(model.eval(), checkpoint["params"], names, numerics, threads)


def _refusal(path: Path, data: bytes) -> PipelineError:
    """The error for a file that is not a checkpoint, saying what it is instead."""
    if not data:
        what = "an empty file"
    elif data.startswith(ZIP_MAGIC):
        what = "a zip file but not a whole PyTorch checkpoint (cut short, or another zip)"
    elif data.startswith(LEGACY_MAGIC):
        what = "a legacy PyTorch file, damaged or cut short"
    elif _is_text(data):
        what = "a text file"
    else:
        what = "not a PyTorch file"
    return PipelineError(
        f"{path}: not a safe, readable checkpoint: {what} "
        "(expected models/model.pt as the train stage writes it)"
    )


def _is_text(data: bytes) -> bool:
    """Whether the first 4 KiB of `data` are UTF-8 text: no control characters but tabs and
    line ends (a multi-byte character cut at the end of the sample is allowed)."""
    try:
        head = codecs.getincrementaldecoder("utf-8")().decode(data[:4096], final=False)
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\t\r\n" for c in head)
