"""The record tables that stages hand to each other, written and read with pandas.

predictions.csv   one row per test image: its line in test.tsv (from 1), actual, predicted
confusion.csv     every (actual, predicted) pair of classes with its count, zeros included,
                  in class order: DVC's Vega matrix then shows all classes in their order
per_class.csv     accuracy per class, in class order
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import PipelineError
from .files import read_text


def read_table(path: Path, columns: dict[str, str], sep: str = ",") -> pd.DataFrame:
    """A table with exactly `columns` (name: dtype), or a PipelineError naming the file."""
    expected = ", ".join(columns)
    text = read_text(path)
    try:
        table = pd.read_csv(io.StringIO(text), sep=sep, dtype=columns)
    except (ValueError, TypeError, pd.errors.ParserError, pd.errors.EmptyDataError):
        raise PipelineError(f"{path}: malformed, expected columns {expected}") from None
    if list(table.columns) != list(columns) or table.isna().any().any():
        raise PipelineError(f"{path}: malformed, expected columns {expected} and no gaps")
    return table


def to_csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False, lineterminator="\n", float_format="%.6g")


def predictions_table(actual: np.ndarray, predicted: np.ndarray, class_names: list[str]):
    """actual, predicted: [n] class indices of the test images, in file order."""
    names = np.array(class_names, dtype=object)
    return pd.DataFrame(
        {
            "line": np.arange(1, len(actual) + 1),
            "actual": names[actual],
            "predicted": names[predicted],
        }
    )


def read_predictions(path: Path, class_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """predictions.csv -> actual [n], predicted [n] class indices, in test.tsv's line order."""
    table = read_table(path, {"line": "int64", "actual": "str", "predicted": "str"})
    if not np.array_equal(table["line"], np.arange(1, len(table) + 1)):
        raise PipelineError(f"{path}: lines must count 1, 2, 3, ... in order")
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(table["actual"]).union(table["predicted"]) - index.keys())
    if unknown:
        raise PipelineError(
            f"{path}: unknown class {unknown[0]!r}, expected one of {', '.join(class_names)}"
        )
    return table["actual"].map(index).to_numpy(), table["predicted"].map(index).to_numpy()


def confusion_counts(actual: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """[k, k] counts: row = actual class, column = predicted class."""
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (actual, predicted), 1)
    return counts


def confusion_table(counts: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    k = len(class_names)
    return pd.DataFrame(
        {
            "actual": np.repeat(class_names, k),
            "predicted": np.tile(class_names, k),
            "count": counts.reshape(-1),
        }
    )


def per_class_table(counts: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    totals = counts.sum(axis=1)
    accuracy = np.divide(np.diag(counts), totals, out=np.zeros(len(totals)), where=totals > 0)
    return pd.DataFrame({"class": class_names, "accuracy": accuracy.round(6), "images": totals})
