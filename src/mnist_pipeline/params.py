"""Typed params: one frozen dataclass per params.yaml section, strictly validated.

Every key of a section must be known, present and of the declared type, so a typo such as
`train.lrr` or `epochs: "50"` stops the stage with a message naming the key instead of
silently training with a default.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ruamel.yaml import YAML
from ruamel.yaml import YAMLError as _YAMLError

from .datasets import DATASETS, Dataset
from .errors import PipelineError
from .files import read_text


def _require(ok: bool, key: str, expected: str) -> None:
    if not ok:
        raise PipelineError(f"params: {key}: expected {expected}")


@dataclass(frozen=True)
class FetchParams:
    dataset: Literal["mnist", "fashion-mnist"] = "mnist"
    # Per data set, the mirrors (base URLs) and local folders to try, in order.
    sources: dict[str, list[str]] = field(default_factory=dict)
    # Expected md5 of each decompressed file by name; empty means the dataset's canonical values.
    md5: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        known = typing.get_args(typing.get_type_hints(FetchParams)["dataset"])
        for name in self.sources:
            _require(name in known, f"fetch.sources.{name}", "a data set name: " + ", ".join(known))


@dataclass(frozen=True)
class PrepareParams:
    n_train: int = 1000
    n_val: int = 1000  # held out from the end of the training split, never trained on
    n_test: int = 100
    selection: Literal["first", "random", "stratified"] = "first"
    seed: int = 0

    def __post_init__(self) -> None:
        _require(self.n_train >= 1, "prepare.n_train", "an integer >= 1")
        _require(self.n_val >= 1, "prepare.n_val", "an integer >= 1")
        _require(self.n_test >= 1, "prepare.n_test", "an integer >= 1")
        _require(0 <= self.seed < 2**63, "prepare.seed", "an integer from 0 to 2**63 - 1")


@dataclass(frozen=True)
class TrainParams:
    """Defaults: the reference tutorial's recipe (plain SGD, constant rate, no augmentation)."""

    seed: int = 0
    epochs: int = 50
    batch_size: int = 10
    lr: float = 0.005  # the peak rate under the onecycle schedule
    optimizer: Literal["sgd", "adamw"] = "sgd"
    momentum: float = 0.0  # sgd only
    nesterov: bool = False  # sgd only, needs momentum > 0
    weight_decay: float = 0.0
    schedule: Literal["constant", "onecycle"] = "constant"
    augment_shift: float = 0.0  # random shift of up to this many pixels
    augment_rotate: float = 0.0  # random rotation of up to this many degrees
    # Print-only: it cannot change an output, so it is neither a dependency of the train stage
    # in dvc.yaml nor recorded in the checkpoint (see outcome_params).
    log_every: int = field(default=5, metadata={"print_only": True})
    threads: int = 1
    # portable: the same bytes on any x86-64 CPU with AVX2; native: the CPU's fastest kernels
    numerics: Literal["portable", "native"] = "portable"
    device: Literal["auto", "cpu", "cuda"] = "cpu"

    def __post_init__(self) -> None:
        _require(0 <= self.seed < 2**63, "train.seed", "an integer from 0 to 2**63 - 1")
        _require(self.epochs >= 1, "train.epochs", "an integer >= 1")
        _require(self.batch_size >= 1, "train.batch_size", "an integer >= 1")
        _require(self.lr > 0, "train.lr", "a number > 0")
        _require(0 <= self.momentum < 1, "train.momentum", "a number from 0 to below 1")
        _require(
            not self.nesterov or (self.optimizer == "sgd" and self.momentum > 0),
            "train.nesterov",
            "false unless train.optimizer is sgd with train.momentum > 0",
        )
        _require(self.weight_decay >= 0, "train.weight_decay", "a number >= 0")
        _require(0 <= self.augment_shift <= 8, "train.augment_shift", "a number of pixels, 0-8")
        _require(
            0 <= self.augment_rotate <= 45, "train.augment_rotate", "a number of degrees, 0-45"
        )
        _require(self.log_every >= 1, "train.log_every", "an integer >= 1")
        _require(1 <= self.threads <= 256, "train.threads", "an integer from 1 to 256")


def print_only_keys(cls: type) -> set[str]:
    """The fields of a params class that only change what is printed."""
    return {f.name for f in dataclasses.fields(cls) if f.metadata.get("print_only")}


def outcome_params(params) -> dict:
    """The params that can change a stage's outputs (all but the print-only ones), as a dict."""
    skip = print_only_keys(type(params))
    return {k: v for k, v in dataclasses.asdict(params).items() if k not in skip}


def _describe(tp: object) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(c) for c in typing.get_args(tp))
    if origin is list:
        return "a list of strings"
    if origin is dict:
        value = (
            "lists of strings" if typing.get_origin(typing.get_args(tp)[1]) is list else "strings"
        )
        return f"a mapping of strings to {value}"
    return TYPE_NAMES[tp]


TYPE_NAMES: dict[object, str] = {
    int: "an integer",
    float: "a finite number",
    str: "a string",
    bool: "true or false",
}


# A rejected value is shown this short: a YAML alias bomb expands to gigabytes when printed.
def _shown(value: object) -> str:
    short = reprlib.Repr()  # (keyword arguments only from Python 3.12)
    short.maxlevel, short.maxlist, short.maxdict = 2, 4, 4
    short.maxstring, short.maxlong, short.maxother = 60, 40, 60
    return short.repr(value)


def _matches(value: object, tp: object) -> bool:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return value in typing.get_args(tp)
    if origin is list:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if origin is dict:
        value_type = typing.get_args(tp)[1]
        return isinstance(value, dict) and all(
            isinstance(k, str) and _matches(v, value_type) for k, v in value.items()
        )
    if tp is float:  # YAML writes 1 or 1e-3 for numbers; bool is an int subclass, reject it
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        try:
            return math.isfinite(float(value))  # .inf, .nan and 1e400 are no learning rates
        except OverflowError:  # an integer too large for a float
            return False
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)  # type: ignore[arg-type]


def parse_section(cls: type, section: str, values: object):
    """Build `cls` from the mapping `values` of params.yaml's `section`, or raise PipelineError."""
    if not isinstance(values, dict):
        raise PipelineError(f"params: {section}: expected a mapping of keys, got {_shown(values)}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in names:
            raise PipelineError(f"params: {section}.{key}: unknown key (known: {', '.join(names)})")
    kwargs = {}
    for name in names:
        key = f"{section}.{name}"
        if name not in values:
            raise PipelineError(f"params: {key}: missing ({_describe(hints[name])} expected)")
        value = values[name]
        if not _matches(value, hints[name]):
            raise PipelineError(
                f"params: {key}: expected {_describe(hints[name])}, got {_shown(value)}"
            )
        kwargs[name] = float(value) if hints[name] is float else value
    return cls(**kwargs)


def read_params(path: Path) -> dict:
    """The whole params file, read exactly as DVC reads it (ruamel.yaml, YAML 1.2, duplicate
    keys refused), so `1e-05` is a number, `010` is 10 and `yes` a string, as in
    `dvc params diff`. Raises PipelineError naming the file for anything but a mapping."""
    text = read_text(path, "params file")
    try:
        document = YAML(typ="safe").load(text)  # DVC's own call (dvc.utils.serialize)
    except _YAMLError as exc:
        raise PipelineError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(document, dict):
        raise PipelineError(f"{path}: expected a mapping of sections, got {_shown(document)}")
    return document


def load_params(path: Path, section: str, cls: type):
    """Read params.yaml and return its `section` as a validated `cls`."""
    document = read_params(path)
    if section not in document:
        raise PipelineError(f"{path}: missing section '{section}'")
    return parse_section(cls, section, document[section])


def load_dataset(path: Path) -> Dataset:
    """The data set `fetch.dataset` names: the one route by which stages learn the class names
    (the checkpoint carries them too, for `predict` and `serve`, which read no params)."""
    return DATASETS[load_params(path, "fetch", FetchParams).dataset]
