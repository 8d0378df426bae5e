"""Checks on training data before any training starts, each failure one
line naming the file (and line): `DATA[:LINE]: error: message`."""

from __future__ import annotations

import numpy as np

from ..errors import DataError


def check_finite(name, x, what="x", rows=None):
    """NaN or infinity in numeric data trains to a NaN loss: refuse it, naming the first row."""
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
        if bad.any():
            row = int(np.argmax(bad))
            shown = int(rows[row]) if rows is not None else row
            raise DataError(
                name, f"{what} holds NaN or infinite values (first in example {shown}); clean or drop those examples"
            )


def class_indices(name, y, rows=None) -> np.ndarray:
    """Labels as class indices: whole numbers as int64, one-hot rows as their
    class; anything else (fractions, NaN, several columns) is refused."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1 and np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all():
        return y.argmax(axis=1).astype("int64")  # one-hot
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(
            name, f"y has shape {list(y.shape)}; expected one label per example (class numbers, or one-hot rows)"
        )
    if np.issubdtype(y.dtype, np.floating):
        check_finite(name, y[:, None], "y", rows)
        if not np.all(y == np.round(y)):
            row = int(np.argmax(y != np.round(y)))
            shown = int(rows[row]) if rows is not None else row
            raise DataError(
                name,
                f"labels are class numbers, but example {shown} has {float(y[row])}; a model "
                "that predicts numbers needs an output without softmax (e.g. `activation: linear`)",
            )
    return y.astype("int64")


def check_labels(data, task: str, units: int | None):
    """Labels fit the output layer: class numbers from 0 below `units` for a
    classifier, 0 or 1 for a binary one, finite numbers otherwise."""
    for split in (data.train, data.validation, data.test):
        if split is None:
            continue
        if task == "regression":
            check_finite(data.name, np.asarray(split.y, dtype="float64").reshape(len(split.y), -1), "y", split.index)
            continue
        split.y = class_indices(data.name, split.y, split.index)
        limit: int | None = 2 if task == "binary" else units
        outside = (split.y < 0) | (split.y >= limit) if limit else split.y < 0
        if outside.any():
            row = int(np.argmax(outside))
            value = int(split.y[row])
            expected = (
                "0 or 1 (sigmoid output)" if task == "binary" else f"0 to {(limit or 0) - 1} (output units: {limit})"
            )
            raise DataError(
                data.name,
                f"label {value} (example {int(split.index[row])}) is outside the classes "
                f"the output layer predicts: {expected}",
            )


def class_labels(values) -> tuple:
    """(class numbers, class names) of labels given as numbers or as names (sorted)."""
    try:
        y = np.array([int(v) for v in values], dtype="int64")
        return y, number_names(y)
    except ValueError:
        names = sorted(set(values))
        return np.array([names.index(v) for v in values], dtype="int64"), names


def named_labels(y) -> tuple:
    """Labels as class numbers with their class names: text labels (str, or
    the bytes tf.data reads) become class numbers named by their text, whole
    numbers are named by themselves, other numbers (regression targets) have none."""
    y = np.asarray(y)
    if y.dtype.kind in "US" or (y.dtype == object and len(y) and isinstance(y.flat[0], bytes)):
        return class_labels([v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in y])
    return y, (number_names(y) if np.issubdtype(y.dtype, np.integer) else None)


MOST_NUMBERED = 1 << 20  # class numbers up to this are named by position; larger ones fail the output's check


def number_names(y) -> list[str]:
    """The names of labels that are class numbers: "0" to the largest, each at
    its own position, so that a class without examples ({1, 3}) leaves no gap
    and index 3 of the model's output is named "3", not "1"."""
    y = np.asarray(y)
    if not y.size:
        return []
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= MOST_NUMBERED:
        return [str(c) for c in np.unique(y)]
    return [str(c) for c in range(high + 1)]
