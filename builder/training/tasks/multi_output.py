"""Several named outputs (`outputs:`): each learns its own task with one value
or one set per example — classification, binary, multi_label or regression,
as its `task:` says or its activation and units imply (as `training.task` is
inferred) — with its own loss, metrics and `loss_weight`. Data: a `.npz` with
one array per input (`x` for a model with one input) and one per output, named
after them, or a CSV with a column per output (named.py). Keras names each
output's metrics after it: metrics.json reports `test_digit_accuracy` and
`test_parity_accuracy`. `predict` writes a column per output (and each one's
probability where it picks a class)."""

from __future__ import annotations

import os

import numpy as np

from ...backend import keras as _keras
from ...errors import DataError, FlagError
from .. import data as data_module
from .base import Predictions, Task, output_kind, task, wrong_model
from .multi_label import MultiLabel
from .named import SEPARATOR, Target, model_inputs, read

_DEFAULT_LOSS = {
    "classification": "sparse_categorical_crossentropy",
    "binary": "binary_crossentropy",
    "multi_label": "binary_crossentropy",
    "regression": "mean_squared_error",
}
_DEFAULT_METRICS = {"classification": ["accuracy"], "binary": ["accuracy"], "regression": ["mae"]}
# What an output's activation gives where the loss expects probabilities: else it reads logits.
_PROBABILITIES = {"classification": "softmax", "binary": "sigmoid", "multi_label": "sigmoid"}


@task("multi_output")
class MultiOutput(Task):
    """Each output's own loss (weighted by its `loss_weight`) and metrics."""

    def __init__(self, model, spec=None, record=None):
        super().__init__(model, spec, record)
        settings = (spec.outputs or {}) if spec is not None else {}
        saved = self.record.get("outputs") or {}
        self.kinds = {}  # output name -> what it learns
        for name in model.output_names:
            declared = settings.get(name, {}).get("task") or saved.get(name)
            self.kinds[name] = declared or output_kind(_activation(model, name), self.units(name))
        self.settings = settings
        self.takes_threshold = "multi_label" in self.kinds.values()

    def units(self, name) -> int:
        return int(self.model.get_layer(name).output.shape[-1] or 1)

    def check(self):
        for name, tensor in zip(self.model.output_names, self.model.outputs):
            if len(tensor.shape) != 2:
                raise wrong_model(
                    f"the output {name!r} is {list(tensor.shape)}; each of several outputs gives one value "
                    "or one set per example, (batch, units)"
                )
            if self.kinds[name] == "multi_label" and self.units(name) < 2:
                raise wrong_model(f"the output {name!r} learns multi_label sets: it needs 2 or more sigmoid units")

    def targets(self, known=None) -> list:
        known = known or {}
        return [
            Target(name, kind, self.units(name), tuple(known[name]) if known.get(name) else None)
            for name, kind in self.kinds.items()
        ]

    def load(self, expanded, settings, folder):
        plan = data_module.SplitPlan.of(self.spec.training)
        return read(settings.data, model_inputs(self.model), self.targets(), plan)

    # --- loss and metrics, per output -------------------------------------------------

    def loss(self):
        common = self.spec.training.loss if self.spec is not None else None
        return {name: self._setting(name, "loss") or common or self._own_loss(name) for name in self.kinds}

    def metrics(self):
        common = self.spec.training.metrics if self.spec is not None else None
        chosen = {}
        for name in self.kinds:
            mine = self._setting(name, "metrics")
            chosen[name] = list(mine if mine is not None else common if common is not None else self._own_metrics(name))
        return chosen

    def loss_weights(self):
        """The spec's `loss_weight`s; a saved model's, its run's."""
        saved = self.record.get("loss_weights") or {}
        return {
            name: float(self.settings.get(name, {}).get("loss_weight", saved.get(name, 1.0))) for name in self.kinds
        }

    def own_loss(self):
        return {name: self._own_loss(name) for name in self.kinds}

    def own_metrics(self):
        return {name: self._own_metrics(name) for name in self.kinds}

    def _setting(self, name, key):
        return self.settings.get(name, {}).get(key)

    def _own_loss(self, name):
        kind, keras = self.kinds[name], _keras()
        if _PROBABILITIES.get(kind) in (None, _activation(self.model, name)):
            return _DEFAULT_LOSS[kind]
        if kind == "classification":  # a head without softmax: logits
            return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return keras.losses.BinaryCrossentropy(from_logits=True)

    def _own_metrics(self, name):
        if self.kinds[name] == "multi_label":
            return MultiLabel.label_metrics(self.units(name))
        return list(_DEFAULT_METRICS[self.kinds[name]])

    def facts(self, data):
        return {"outputs": dict(self.kinds), "loss_weights": self.loss_weights()}

    # --- saved models -----------------------------------------------------------------

    def _saved(self, model_path, data_arg, whole, labelled):
        known = data_module.read_beside(model_path, "classes.json")
        if known is not None and not isinstance(known, dict):
            path = data_module.find_beside(model_path, "classes.json")
            raise DataError(path, "expected an object of class names by output, as its training run writes it")
        plan = data_module.SplitPlan.saved(self.record, whole)
        data = read(os.fspath(data_arg), model_inputs(self.model), self.targets(known), plan, labelled=labelled)
        if whole and data.split_by_folders:
            data = data_module.merged(data)
        return data, known or {}

    def evaluate(self, model_path, data_arg, label=None):
        data, _ = self._saved(model_path, data_arg, whole=False, labelled=True)
        self.compile_saved()
        split = data.test or data.train
        batch_size = self.record.get("batch_size", 32)
        results = self.model.evaluate(split.x, split.y, batch_size=batch_size, verbose=0, return_dict=True)
        return {"examples": len(split), **{f"test_{k}": float(v) for k, v in results.items()}}

    def predict(self, model_path, data_arg, label=None, top_k=1, threshold=None):
        if top_k != 1:
            raise FlagError("--top-k: a model with several outputs names each output's best class")
        data, known = self._saved(model_path, data_arg, whole=True, labelled=None)
        split = data.train
        order = np.argsort(split.index)  # back to the order of the file
        outputs = self.model.predict(split.x, batch_size=self.record.get("batch_size", 32), verbose=0)
        outputs = dict(zip(self.model.output_names, outputs if isinstance(outputs, list) else [outputs]))
        header, columns = ["index"], []
        for name, kind in self.kinds.items():
            names = (known or {}).get(name) or (data.class_names or {}).get(name)
            cells = _cells(kind, np.asarray(outputs[name])[order], names, 0.5 if threshold is None else threshold)
            header += [name] + ([f"{name}_probability"] if kind == "classification" else [])
            columns.append(cells)
            if split.y:
                header.append(f"{name}_label")
                columns.append([[_truth(kind, v, names)] for v in np.asarray(split.y[name])[order]])
        rows = [(str(int(i)), *(c for column in columns for c in column[r])) for r, i in enumerate(split.index[order])]
        return Predictions(tuple(header), rows)


def _activation(model, name) -> str | None:
    function = getattr(model.get_layer(name), "activation", None)
    return getattr(function, "__name__", None)


def _cells(kind, values, names, threshold) -> list:
    """Each example's cells for one output: a class and its probability, a set of classes, or a number."""
    if kind == "classification":
        best = values.argmax(axis=1)
        return [[_name(names, b), f"{v[b]:.6f}"] for b, v in zip(best, values)]
    if kind == "multi_label":
        return [[SEPARATOR.join(_name(names, c) for c in np.flatnonzero(v >= threshold))] for v in values]
    return [[" ".join(f"{x:.6f}" for x in np.ravel(v))] for v in values]


def _truth(kind, value, names) -> str:
    if kind == "multi_label":
        return SEPARATOR.join(_name(names, c) for c in np.flatnonzero(np.asarray(value) > 0.5))
    if kind == "regression":
        return " ".join(f"{x:g}" for x in np.ravel(value))
    return str(_name(names, int(value)))


def _name(names, index) -> str:
    return str(names[index]) if names and index < len(names) else str(int(index))
