"""Typed params: params.yaml read as DVC reads it and validated whole, strictly, by pydantic.

Every key must be known, present and of its declared type, so a typo such as `train.lrr` or
`epochs: "50"` stops the stage with one line naming the key instead of silently training with
a default. The models hold no defaults: params.yaml is their one home, and tests and benchmarks
start from it with overrides (`load_params(path, {"train.epochs": 3})`, as `dvc exp run -S`).
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml import YAMLError as _YAMLError

from .datasets import DATASETS, Dataset
from .errors import PipelineError
from .files import read_text

Count = Annotated[int, Field(ge=1)]
Seed = Annotated[int, Field(ge=0, lt=2**63)]  # what torch.manual_seed and numpy accept
# Far beyond any useful value, and within float32, which the optimizers compute lr and
# weight_decay in (past 3.4e38 torch fails with a traceback instead of diverging).
RATE_MAX = 1e6


# The choices params.yaml offers, one name each: the code that acts on them takes these types
# and dispatches with `match` ... `assert_never`, so mypy fails where a choice is not handled.
Selection = Literal["first", "random", "stratified"]
Optimizer = Literal["sgd", "adamw"]
Schedule = Literal["constant", "onecycle"]
Numerics = Literal["portable", "native"]
DeviceChoice = Literal["auto", "cpu", "cuda"]
PrecisionChoice = Literal["auto", "fp32", "bf16"]


def _known_dataset(name: str) -> str:
    if name not in DATASETS:
        raise ValueError("a data set name: " + " or ".join(DATASETS))
    return name


DatasetName = Annotated[str, AfterValidator(_known_dataset)]


class _Section(BaseModel):
    # strict: no "50" for 50, no 1 for true; an int is still taken for a float (YAML writes 1).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class FetchParams(_Section):
    # Per data set, the mirrors (base URLs) and local folders to try, in order.
    sources: dict[DatasetName, list[str]]
    # Expected md5 of each decompressed file by name; empty means the dataset's canonical values.
    md5: dict[str, str]


class PrepareParams(_Section):
    n_train: Count
    n_val: Count  # held out from the end of the training split, never trained on
    n_test: Count
    selection: Selection
    seed: Seed


class TrainParams(_Section):
    seed: Seed
    # May be fractional: round(epochs * batches an epoch) optimizer steps, the last epoch partial.
    epochs: Annotated[float, Field(gt=0)]
    batch_size: Count
    lr: Annotated[float, Field(gt=0, le=RATE_MAX)]  # the peak rate under onecycle
    optimizer: Optimizer
    momentum: Annotated[float, Field(ge=0, lt=1)]  # sgd only
    nesterov: bool  # sgd only, needs momentum > 0
    weight_decay: Annotated[float, Field(ge=0, le=RATE_MAX)]
    schedule: Schedule
    augment_shift: Annotated[float, Field(ge=0, le=8)]  # pixels
    augment_rotate: Annotated[float, Field(ge=0, le=45)]  # degrees
    threads: Annotated[int, Field(ge=1, le=256)]  # per process
    # Training processes (DDP ranks), each taking batch_size / processes images of a batch;
    # part of the recipe, like threads (docs/scale.md).
    processes: Annotated[int, Field(ge=1, le=1024)]
    # portable: the same bytes on any x86-64 CPU with AVX2; native: the CPU's fastest kernels
    numerics: Numerics
    device: DeviceChoice
    # auto: bf16 in native numerics where the hardware runs it natively, else fp32
    # (numerics.choose_precision); the checkpoint records the one chosen.
    precision: PrecisionChoice

    @field_validator("momentum")
    @classmethod
    def _momentum_needs_sgd(cls, momentum: float, info: ValidationInfo) -> float:
        if momentum and info.data.get("optimizer") != "sgd":  # AdamW would silently ignore it
            raise ValueError("0 unless train.optimizer is sgd")
        return momentum

    @field_validator("processes")
    @classmethod
    def _processes_divide_batch(cls, processes: int, info: ValidationInfo) -> int:
        batch_size = info.data.get("batch_size")
        if batch_size is not None and batch_size % processes:  # every rank an equal share
            raise ValueError(f"a divisor of train.batch_size ({batch_size})")
        return processes

    @field_validator("nesterov")
    @classmethod
    def _nesterov_needs_sgd_momentum(cls, nesterov: bool, info: ValidationInfo) -> bool:
        if nesterov and not (info.data.get("optimizer") == "sgd" and info.data.get("momentum")):
            raise ValueError("false unless train.optimizer is sgd with train.momentum > 0")
        return nesterov


class Params(_Section):
    """The whole params.yaml. `dataset` is read by several stages (fetch, train, evaluate,
    plot), so it has a key of its own; `log_every` only changes what train prints, so no
    stage depends on it."""

    dataset: DatasetName
    log_every: Count
    fetch: FetchParams
    prepare: PrepareParams
    train: TrainParams

    @property
    def data(self) -> Dataset:
        """The data set `dataset` names: the route by which stages learn its class names."""
        return DATASETS[self.dataset]


# A rejected value is shown this short: a YAML alias bomb expands to gigabytes when printed.
def _shown(value: object) -> str:
    short = reprlib.Repr()  # (keyword arguments only from Python 3.12)
    short.maxlevel, short.maxlist, short.maxdict = 2, 4, 4
    short.maxstring, short.maxlong, short.maxother = 60, 40, 60
    return short.repr(value)


def _first_error(error: ValidationError) -> str:
    """pydantic's first complaint as one line: `params: train.epochs: <what>, got <value>`.
    An unknown key comes first: `lrr` for `lr` is a typo, and `lr: missing` would hide it."""
    first = min(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
    key = ".".join(
        part if isinstance(part, str) and part.isprintable() else repr(part)  # one line
        for part in first["loc"]
        if part != "[key]"
    )
    if first["type"] == "extra_forbidden":
        *sections, _ = first["loc"]
        model: object = Params
        for section in sections:  # down to the model whose fields the key was not among
            model = getattr(model, "model_fields", {})[section].annotation
        known = ", ".join(getattr(model, "model_fields", {}))
        return f"params: {key}: unknown key (known: {known})"
    if first["type"] == "missing":
        return f"params: {key}: missing"
    if first["type"] in ("model_type", "dict_type"):
        return f"params: {key}: expected a mapping of keys, got {_shown(first['input'])}"
    if first["type"] in EXPECTED:
        what = "expected " + EXPECTED[first["type"]]
    elif first["type"] == "literal_error":
        what = "expected " + first["ctx"]["expected"]
    elif first["type"] == "value_error":
        what = "expected " + str(first["ctx"]["error"])
    else:  # a range: "input should be greater than 0"
        what = first["msg"][0].lower() + first["msg"][1:]
    return f"params: {key}: {what}, got {_shown(first['input'])}"


# pydantic's type errors in YAML's words.
EXPECTED = {
    "int_type": "an integer",
    "float_type": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
}


def read_params(path: Path) -> dict:
    """The whole params file, read exactly as DVC reads it (ruamel.yaml, YAML 1.2, duplicate
    keys refused), so `1e-05` is a number, `010` is 10 and `yes` a string, as in
    `dvc params diff`. Raises PipelineError naming the file for anything but a mapping."""
    text = read_text(path, "params file")
    try:
        document = YAML(typ="safe").load(text)  # DVC's own call (dvc.utils.serialize)
    # ruamel's constructors raise these for tags it cannot build (`!!int abc`, an int of over
    # 4300 digits), and deep nesting exhausts the stack.
    except (_YAMLError, ValueError, KeyError, IndexError, RecursionError) as exc:
        reason = " ".join(str(exc).split()).split(" To suppress this check")[0]  # not advice
        reason = reason if len(reason) <= 300 else reason[:300] + "..."
        raise PipelineError(f"{path}: not valid YAML: {reason}") from None
    if document is None:
        raise PipelineError(f"{path}: empty: expected a mapping of sections")
    if not isinstance(document, dict):
        raise PipelineError(f"{path}: expected a mapping of sections, got {_shown(document)}")
    return document


def load_params(path: Path, overrides: Mapping[str, object] | None = None) -> Params:
    """Read params.yaml, apply `overrides` ({"train.epochs": 3}: dotted keys, as `dvc exp run
    -S` takes them) and validate the whole. Raises PipelineError with one line naming the key."""
    document = apply_overrides(read_params(path), overrides or {})
    try:
        return Params.model_validate(document)
    except ValidationError as error:
        raise PipelineError(_first_error(error)) from None


def apply_overrides(document: dict, overrides: Mapping[str, object]) -> dict:
    """Set each dotted key of `overrides` ({"train.epochs": 3, "dataset": "mnist"}, as `dvc exp
    run -S` names them) in the nested params mapping `document`, creating missing sections.
    Changes `document` in place and returns it."""
    for dotted, value in overrides.items():
        *sections, key = dotted.split(".")
        node = document
        for section in sections:
            node = node.setdefault(section, {})
        node[key] = value
    return document
