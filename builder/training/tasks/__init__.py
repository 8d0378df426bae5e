"""Tasks: what a run trains its model to do. Each task is one module here and
owns, in one place, how its data is read and checked, its loss and metrics,
what `evaluate` reports and what `predict` writes:

    classification, binary, regression   classification.py
    segmentation                          segmentation.py
    causal_lm                             causal_lm.py

A spec names its task (`training.task`), or the model's output implies it
(`infer`); a saved model's task is its run.json's. A new task is a module
with a `@task(NAME)` class, its name added to spec.training.TASKS.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ...errors import SpecError
from ...spec.training import TASKS as TASK_NAMES

TASKS: dict[str, type[Task]] = {}


def task(name: str):
    """Register a Task class under `name` (one of spec.training.TASKS)."""
    if name not in TASK_NAMES:
        raise ValueError(f"no task named {name!r} in spec.training.TASKS")
    if name in TASKS:
        raise ValueError(f"task {name!r} is registered already")

    def register(cls):
        cls.name = name
        TASKS[name] = cls
        return cls

    return register


class Task:
    """One task, for a model (and the spec it was built from, when training).

    Training: `check` (the model fits the task), `load` (the data, read and
    checked before anything is written), `prepare` (the data shaped to the
    built model), `loss`, `metrics`, `beside` (files the run writes beside
    its model). Saved models: `evaluate`, `predict`."""

    name: ClassVar[str] = ""

    def __init__(self, model, spec=None, record: dict | None = None):
        self.model, self.spec, self.record = model, spec, record or {}

    # --- training ---------------------------------------------------------------------

    def check(self) -> None:
        """Raise a SpecError (at training.task) where the model cannot learn this task."""

    def load(self, expanded, settings, folder):
        """The run's data.Data, read and checked (one line, nothing written)."""
        raise NotImplementedError

    def prepare(self, data) -> None:
        """Shape the data to the built model (masks cropped to the output)."""

    def loss(self) -> Any:
        raise NotImplementedError

    def metrics(self) -> list:
        raise NotImplementedError

    def beside(self, data) -> dict:
        """{file name: JSON-able value}: what the run writes beside its model for predict (a tokenizer)."""
        return {}

    def facts(self, data) -> dict:
        """What run.json records of the task besides its name."""
        return {}

    # --- saved models -----------------------------------------------------------------

    def evaluate(self, model_path, data_arg, label=None) -> dict:
        raise NotImplementedError

    def predict(self, model_path, data_arg, label=None, top_k=1) -> Predictions:
        raise NotImplementedError


class Predictions:
    """What predict writes: CSV rows under a header, or files into a folder."""

    def __init__(self, header=None, rows=None, files=None):
        self.header, self.rows, self.files = header, rows, files  # files: {name: bytes}


def output_rank(model) -> int:
    return len(model.outputs[0].shape)


def infer(spec, model=None) -> str:
    """The task a spec declares, or the one its output implies: a head tied to a
    token embedding, causal_lm; a per-pixel head, segmentation; one sigmoid
    unit, binary; a softmax, classification; anything else, regression. With
    no `model` (before it is built), from the spec alone."""
    declared = spec.training.task
    if declared is not None:
        return declared
    output = spec.output
    if output is None:
        return "regression"
    if output.get("tie") is not None:
        return "causal_lm"
    rank = output_rank(model) if model is not None else 2
    if rank == 4:
        return "segmentation"
    if rank == 3:
        raise spec.source.locate(
            SpecError(
                "the output predicts for every position of a sequence; say what it learns with "
                "`training: {task: causal_lm}` (or another of: " + ", ".join(TASK_NAMES) + ")",
                path=("output",),
            )
        )
    if output.get("activation") == "sigmoid" and output.get("units") == 1:
        return "binary"
    return "classification" if output.get("activation") == "softmax" else "regression"


def of(spec, model) -> Task:
    """The task a run of `spec` trains `model` (built from it) for, checked against the model."""
    chosen = TASKS[infer(spec, model)](model, spec)
    chosen.check()
    return chosen


def of_saved(model, record: dict) -> Task:
    """A saved model's task: its run.json's (`record`), or the one its output implies."""
    name = record.get("task")
    if name not in TASKS:  # a run from before tasks were recorded
        name = "segmentation" if output_rank(model) == 4 else _flat_task(model)
    return TASKS[name](model, None, record)


def _flat_task(model) -> str:
    from ...backend import keras as _keras

    keras = _keras()
    units = model.outputs[0].shape[-1] or 1
    if units > 1:
        return "classification"
    return "binary" if getattr(model.layers[-1], "activation", None) is keras.activations.sigmoid else "regression"


def wrong_model(message: str) -> SpecError:
    """A task the model cannot learn: a SpecError at training.task."""
    return SpecError(message, path=("training", "task"))


from . import causal_lm, classification, segmentation  # noqa: E402, F401 - they register themselves
