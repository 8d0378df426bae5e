"""Data for a model's named inputs and outputs: a `.npz` with one array per
input and per output, named after them (`x` for a model's only input, `y` for
its only output); or a CSV whose columns are named after them (a model with
one input takes every other column as its features). Each output's labels
are read and checked for what it learns (`KINDS`), as the one-output tasks
check theirs; errors name the file, the output and the example."""

from __future__ import annotations

import dataclasses

import numpy as np

from ...errors import DataError, FlagError
from .. import data as data_module
from ..checks import check_finite, check_labels, class_indices, class_labels

SEPARATOR = "|"  # a set of classes in one CSV cell (multi-label): cat|dog
KINDS = ("classification", "binary", "multi_label", "regression")


@dataclasses.dataclass(frozen=True)
class Target:
    """One output to read labels for: its array (or column) name, what it
    learns, its units, and the class names a trained model knows (or None)."""

    name: str
    kind: str
    units: int
    known: tuple | None = None


def model_inputs(model) -> list:
    """(array name, shape, dtype) of each of a model's inputs: `x` for a model's only one."""
    tensors = model.inputs
    if len(tensors) == 1:
        return [("x", tuple(tensors[0].shape[1:]), tensors[0].dtype)]
    return [(t.name, tuple(t.shape[1:]), t.dtype) for t in tensors]


def read(path, inputs: list, targets: list, plan, labelled=True):
    """data.Data of a .npz or CSV at `path`: x (an array, or a dict for several
    inputs), y a dict of each target's labels (empty unlabelled); `labelled`
    None: labelled where every target's array or column is there. class_names:
    {target: names} for targets with classes."""
    path = str(path)
    if path.endswith(".npz"):
        arrays, test = _npz(path, inputs, targets, labelled)
    elif path.endswith(".csv"):
        arrays, test = _csv(path, inputs, targets, labelled), None
    else:
        raise FlagError(
            f"--data {path!r}: a model with named inputs or outputs reads a .npz (one array per input and per "
            "output, named after them) or a CSV file (columns named after them)"
        )
    names = {}
    for target in (t for t in targets if t.name in arrays):
        given = arrays[target.name] if test is None else np.concatenate([arrays[target.name], test[target.name]])
        labels, found = _labels(path, target, given)  # the training and test labels named alike
        arrays[target.name] = labels[: len(arrays[target.name])]
        if test is not None:
            test[target.name] = labels[len(arrays[target.name]) :]
        if found is not None:
            names[target.name] = found
    y = {t.name: arrays[t.name] for t in targets if t.name in arrays}
    test_split = None
    if test is not None:
        test_split = data_module.Split(_inputs(test, inputs), {t.name: test[t.name] for t in targets}, _count(test))
    data = data_module.split_examples(path, _inputs(arrays, inputs), y, plan, test=test_split)
    data.class_names = names or None
    return data


def _count(arrays) -> np.ndarray:
    return np.arange(len(next(iter(arrays.values()))))


def _inputs(arrays, inputs):
    return arrays[inputs[0][0]] if len(inputs) == 1 else {name: arrays[name] for name, _, _ in inputs}


def _npz(path, inputs, targets, labelled):
    """({name: array}, {name: test array} or None) of a .npz, shapes and lengths checked."""
    wanted = [name for name, _, _ in inputs]
    labels = [t.name for t in targets]
    arrays = data_module.read_npz_arrays(
        path, needed=wanted, optional=", ".join(f"'{n}_test'" for n in wanted + labels)
    )
    present = [n for n in labels if n in arrays]
    if labelled or (labelled is None and present):
        missing = [n for n in labels if n not in arrays]
        if missing:
            raise DataError(
                path,
                f"no array {missing[0]!r} for the output {missing[0]!r}; a .npz holds one array per input "
                f"({', '.join(wanted)}) and per output ({', '.join(labels)}); it has {', '.join(arrays)}",
            )
    names = wanted + (labels if labelled or present else [])
    tested = [f"{n}_test" for n in names if f"{n}_test" in arrays]
    if tested and len(tested) != len(names):
        absent = next(f"{n}_test" for n in names if f"{n}_test" not in arrays)
        raise DataError(path, f"a held-out test set needs an array per input and output: {absent!r} is missing")
    main = _checked(path, {n: arrays[n] for n in names}, inputs, "")
    test = _checked(path, {n: arrays[f"{n}_test"] for n in names}, inputs, "_test") if tested else None
    return main, test


def _checked(path, arrays, inputs, suffix):
    """The arrays, of one length, each input fitted to its shape and finite."""
    (first, count), *others = [(name, len(a)) for name, a in arrays.items()]
    for name, length in others:
        if length != count:
            raise DataError(
                path, f"{first}{suffix} and {name}{suffix} differ in length: {count} examples against {length}"
            )
    if not count:
        raise DataError(path, f"{first}{suffix} holds no examples")
    for name, shape, dtype in inputs:
        array = arrays[name]
        if array.dtype.kind not in "biuf" and dtype != "string":
            raise DataError(path, f"{name}{suffix} must be a numeric array, not {array.dtype}")
        arrays[name] = data_module.fit_array(array, shape, path, f"{name}{suffix}")
        check_finite(path, arrays[name], f"{name}{suffix}")
    return arrays


def _csv(path, inputs, targets, labelled):
    """{name: column values} of a CSV: a column per output (its labels, as text) and per input."""
    header, rows, lines = data_module._read_csv(path)
    labels = [t.name for t in targets]
    present = [n for n in labels if n in header]
    if labelled or (labelled is None and present):
        missing = [n for n in labels if n not in header]
        if missing:
            raise DataError(
                path,
                f"no column {missing[0]!r} for the output {missing[0]!r} (columns: {', '.join(header)})",
                1,
            )
        present = labels
    arrays = {n: np.array([row[header.index(n)] for row in rows], dtype=object) for n in present}
    if len(inputs) == 1 and inputs[0][0] not in header:
        (_, shape, _), exclude = inputs[0], [header.index(n) for n in present]
        x = data_module.features(path, header, rows, lines, exclude)
        arrays["x"] = data_module.fit_array(x, shape, path, "the feature columns")
        return arrays
    for name, shape, dtype in inputs:
        if name not in header:
            raise DataError(path, f"no column {name!r} for the input {name!r} (columns: {', '.join(header)})", 1)
        if tuple(shape) not in ((1,), (None,)) and dtype != "string":
            raise DataError(
                path,
                f"the input {name!r} takes {list(shape)} values per example, more than one CSV column holds; "
                "give them in a .npz",
            )
        column = header.index(name)
        if dtype == "string":
            arrays[name] = np.array([row[column] for row in rows], dtype=object)
        else:
            others = [c for c in range(len(header)) if c != column]
            arrays[name] = data_module.features(path, header, rows, lines, others)
    return arrays


def _labels(path, target: Target, values) -> tuple:
    """(labels as the output learns them, class names or None), checked."""
    try:
        return _converted(path, target, np.asarray(values))
    except DataError as err:
        raise DataError(path, f"the output {target.name!r}: {err.message}", err.data_line) from None


def _converted(path, target: Target, values) -> tuple:
    known = list(target.known) if target.known else None
    if target.kind == "multi_label":
        return _label_sets(path, values, target.units, known)
    if target.kind == "regression":
        if values.dtype == object:
            try:
                values = values.astype("float32")
            except ValueError:
                raise DataError(path, "its labels are numbers (regression), not text") from None
        check_finite(path, values.reshape(len(values), -1).astype("float64"), "y")
        return values.astype("float32"), None
    if values.dtype == object:
        y, names = class_labels([str(v) for v in values])
        if known:
            unknown = sorted(set(names) - set(known))
            if unknown:
                raise DataError(path, f"the label {unknown[0]!r} is not one of its classes ({', '.join(known)})")
            y, names = np.array([known.index(names[i]) for i in y], dtype="int64"), known
    else:
        y = class_indices(path, values)
        names = known or [str(c) for c in range(target.units if target.kind == "classification" else 2)]
    part = data_module.Split(None, y, np.arange(len(y)))
    check_labels(data_module.Data(path, part, None, None), target.kind, target.units)
    return part.y, names


def _label_sets(path, values, units, known):
    """Multi-hot rows over `units` classes, from rows of 0 and 1 or from class names joined by |."""
    if values.dtype != object:
        if values.ndim != 2 or values.shape[1] != units or not np.isin(values, (0, 1)).all():
            raise DataError(path, f"multi-hot labels are rows of {units} zeros and ones (its units)")
        return values.astype("float32"), known
    sets = [[n.strip() for n in str(v).split(SEPARATOR) if n.strip()] for v in values]
    names = known or sorted({n for s in sets for n in s})
    return multi_hot(path, sets, names, units), names


def multi_hot(path, sets, names, units, rows=None) -> np.ndarray:
    """Rows of `units` zeros and ones: a 1 for each class of `names` in an example's set."""
    if len(names) > units:
        raise DataError(
            path,
            f"{len(names)} classes ({', '.join(names[:12])}{', ...' if len(names) > 12 else ''}), "
            f"but the output has {units} units",
        )
    hot = np.zeros((len(sets), units), dtype="float32")
    for i, labels in enumerate(sets):
        for label in (label.strip() for label in labels):
            if not label:
                continue
            if label not in names:
                shown = int(rows[i]) if rows is not None else i
                raise DataError(
                    path, f"the label {label!r} (example {shown}) is not one of the classes ({', '.join(names)})"
                )
            hot[i, names.index(label)] = 1.0
    return hot
