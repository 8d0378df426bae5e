"""Starting weights for a built model: from a `.keras` file, layers matched by
name; from a `.weights.h5` file, by the keys Keras stores there (the layer's
class and its number among the model's layers of that class, not its name). Strict by default:
a layer missing on either side, or of other shapes, is one error listing them;
with `skip_mismatch` what fits is loaded and the rest reported."""

from __future__ import annotations

import dataclasses
import os
import re
import zipfile

import numpy as np

from ..backend import keras as _keras
from ..errors import BuilderError, first_line
from ..files import not_regular

_SHOWN = 4  # names listed per kind of mismatch, then a count


class WeightsError(BuilderError):
    """Weights that cannot be read, or do not fit the model."""


@dataclasses.dataclass
class Report:
    path: str
    loaded: list  # layer names
    skipped: list  # (layer name, why)

    def lines(self) -> list[str]:
        lines = [f"Weights: {len(self.loaded)} layers from {self.path}"]
        if self.skipped:
            lines.append(
                "  skipped (kept their fresh weights, or not in the model): "
                + ", ".join(f"{name} ({why})" for name, why in self.skipped)
            )
        return lines


def load(model, path, skip_mismatch=False) -> Report:
    """Load `path` into `model`; a Report of what was loaded and skipped."""
    source = _read(path)
    pairs, skipped = _pair(model, source, by_name=not path.endswith(".weights.h5"))
    if skipped and not skip_mismatch:
        raise _misfit(path, skipped)
    if path.endswith(".weights.h5"):
        _load_h5(model, path)
        checked = [(layer, arrays, _holds(layer, arrays)) for layer, arrays in pairs]
        refused = [(layer.name, _REFUSED) for layer, _, held in checked if not held]
        if refused and not skip_mismatch:  # Keras skipped them: never reported as loaded
            raise _misfit(path, refused)
        pairs, skipped = [(layer, arrays) for layer, arrays, held in checked if held], refused + skipped
    else:
        for layer, arrays in pairs:
            layer.set_weights(arrays)
    return Report(path, [layer.name for layer, _ in pairs], skipped)


def _misfit(path, skipped) -> WeightsError:
    return WeightsError(
        f"{path}: the weights do not fit the model: {_listing(skipped)}; load what fits with "
        f"`weights: {{path: {os.path.basename(path)}, skip_mismatch: true}}`"
    )


def _same(a, b) -> bool:
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc" and b.dtype.kind in "fc")


_REFUSED = "the file holds its variables in another order, which Keras does not load"


def _holds(layer, arrays) -> bool:
    """Whether `layer` now holds exactly `arrays`, in whatever order its variables
    come (checked after Keras's loader, which skips a layer it cannot load)."""
    left = list(layer.get_weights())
    for array in arrays:
        found = next((i for i, w in enumerate(left) if _same(w, array)), None)
        if found is None:
            return False
        left.pop(found)
    return not left


def _load_h5(model, path):
    """Keras's own loader puts the arrays of nested layers (a bidirectional
    LSTM's two directions) where they belong; the pairing checked they fit."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # what it skips, the report says
            model.load_weights(path, skip_mismatch=True)
    except Exception as err:  # noqa: BLE001 - a bad file is the user's input, not a bug
        raise WeightsError(f"{path}: cannot read the weights: {first_line(err)}") from None


def _read(path) -> list[tuple[str, list]]:
    """(layer name or key, weight arrays) for every layer with weights in the file, in order."""
    if not os.path.exists(path):
        raise WeightsError(f"{path}: no such weights file")
    what = not_regular(path)
    if what:
        raise WeightsError(f"{path}: it is {what}, not a weights file")
    if path.endswith(".weights.h5"):
        return _read_h5(path)
    if not path.endswith(".keras") or not zipfile.is_zipfile(path):
        raise WeightsError(f"{path}: expected a .keras model or a .weights.h5 file")
    try:
        saved = _keras().saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - a bad file is the user's input, not a bug
        raise WeightsError(f"{path}: cannot read the model: {first_line(err)}") from None
    return [(layer.name, layer.get_weights()) for layer in saved.layers if layer.weights]


def _read_h5(path) -> list[tuple[str, list]]:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            layers = handle.get("layers")
            if not isinstance(layers, h5py.Group):
                raise LayoutError("no 'layers' group")
            found = [(key, _arrays(layers[key], f"layers/{key}")) for key in _natural(layers)]
            return [(key, arrays) for key, arrays in found if arrays]
    except OSError as err:
        raise WeightsError(f"{path}: cannot read the weights: {err}") from None
    except LayoutError as err:
        raise WeightsError(f"{path}: not a Keras .weights.h5 file ({err})") from None


class LayoutError(Exception):
    """What in a .weights.h5 file is not where or what Keras puts it."""


MAX_DEPTH = 16  # Keras nests a layer's sublayers a few groups deep (bidirectional/forward_layer/cell)


def _arrays(group, where: str, depth: int = 0) -> list:
    """A layer's variables in the order Keras stores them (vars/0, vars/1, ...; nested layers after)."""
    import h5py

    if not isinstance(group, h5py.Group):
        raise LayoutError(f"{where} is a dataset; Keras stores a layer as a group")
    if depth > MAX_DEPTH:
        raise LayoutError(f"groups nested deeper than {MAX_DEPTH} under {where.split('/')[0]}/{where.split('/')[1]}")
    found = []
    variables = group.get("vars")
    if variables is not None:
        if not isinstance(variables, h5py.Group):
            raise LayoutError(f"{where}/vars is a dataset; Keras stores a layer's variables in a group")
        names = [str(i) for i in range(len(variables))]
        if sorted(variables) != sorted(names):
            raise LayoutError(f"{where}/vars holds {_listed(variables)}; Keras names a layer's variables 0, 1, ...")
        for name in names:
            if not isinstance(variables[name], h5py.Dataset):
                raise LayoutError(f"{where}/vars/{name} is a group; Keras stores a variable as a dataset")
            found.append(variables[name][()])
    for key in _natural(group):
        if key != "vars" and isinstance(group[key], h5py.Group):
            found += _arrays(group[key], f"{where}/{key}", depth + 1)
    return found


def _listed(variables) -> str:
    names = sorted(variables)
    shown = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
    return shown or "nothing"


def _natural(group) -> list:
    """conv2d, conv2d_1, conv2d_2, ..., conv2d_10 (h5py lists keys alphabetically)."""

    def order(key):
        base, _, number = key.rpartition("_")
        return (base, int(number)) if number.isdigit() and base else (key, -1)

    return sorted(group, key=order)


def h5_keys(model) -> dict:
    """id(layer) -> the key Keras stores its weights under in a .weights.h5
    file: its class in snake case, numbered among the model's layers of that
    class (saving_lib's container naming, which does not use layer names)."""
    keys: dict = {}
    used: dict = {}
    for layer in model.layers:
        name = re.sub(r"\W+", "", type(layer).__name__)
        name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
        name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
        used[name] = used.get(name, -1) + 1
        keys[id(layer)] = name if used[name] == 0 else f"{name}_{used[name]}"
    return keys


def _pair(model, source, by_name) -> tuple[list, list]:
    """(layer, arrays) pairs that fit, and (name, why) for what does not: by
    layer name, or (a .weights.h5) by Keras's keys."""
    targets = [layer for layer in model.layers if layer.weights]
    keys = {id(layer): layer.name for layer in targets} if by_name else h5_keys(model)
    named = dict(source)
    matched = [(layer, named.get(keys[id(layer)])) for layer in targets]
    mine = {keys[id(layer)] for layer in targets}
    extra = [
        (name if by_name else f"{name} (a key in the file)", "not in the model")
        for name, _ in source
        if name not in mine
    ]
    pairs, skipped = [], []
    for layer, arrays in matched:
        ours = [tuple(w.shape) for w in layer.weights]
        theirs = [tuple(a.shape) for a in arrays] if arrays is not None else []
        if arrays is None:
            skipped.append((layer.name, "not in the file"))
        elif (theirs != ours) if by_name else (sorted(theirs) != sorted(ours)):  # h5: nested layers by key
            skipped.append(
                (layer.name, f"shapes {_shapes(ours)} in the model, {_shapes(a.shape for a in arrays)} in the file")
            )
        else:
            pairs.append((layer, arrays))
    return pairs, skipped + extra


def _shapes(shapes) -> str:
    return " ".join(str(list(shape)) for shape in shapes)


def _listing(skipped) -> str:
    shown = "; ".join(f"{name} ({why})" for name, why in skipped[:_SHOWN])
    return shown + (f"; and {len(skipped) - _SHOWN} more" if len(skipped) > _SHOWN else "")


def start(model, spec, weights=None) -> Report | None:
    """Load the spec's starting weights into `model` (`weights`, a path or
    {path, skip_mismatch}, replaces the spec's own); None when there are none."""
    if isinstance(weights, (str, os.PathLike)):
        weights = {"path": os.fspath(weights), "skip_mismatch": False}
    weights = weights or spec.weights
    if not weights:
        return None
    return load(model, weights["path"], skip_mismatch=weights.get("skip_mismatch", False))
