"""The task registry and a task's interface: each task module registers a
`Task` subclass with `@task(NAME)` (NAME one of spec.training.TASKS)."""

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
    takes_threshold: bool = False  # predict's --threshold (multi-label)
    weighted: ClassVar[bool] = False  # its examples carry sample weights its metrics follow (ignored pixels)

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
        """The spec's `training.loss`, else the task's own."""
        configured = self.spec.training.loss if self.spec is not None else None
        return configured or self.own_loss()

    def metrics(self) -> list:
        """The spec's `training.metrics`, else the task's own."""
        configured = self.spec.training.metrics if self.spec is not None else None
        return list(configured) if configured is not None else self.own_metrics()

    def compiled_metrics(self, metrics) -> dict:
        """`metrics` as model.compile takes them: weighted by the examples' sample
        weights where the task has them (Keras weighs only `weighted_metrics`)."""
        return {"weighted_metrics" if self.weighted else "metrics": metrics}

    def loss_weights(self) -> dict | None:
        """Each output's weight in the total loss (several outputs), or None."""
        return None

    def own_loss(self) -> Any:
        raise NotImplementedError

    def own_metrics(self) -> list:
        raise NotImplementedError

    def beside(self, data) -> dict:
        """{file name: JSON-able value}: what the run writes beside its model for predict (a tokenizer)."""
        return {}

    def facts(self, data) -> dict:
        """What run.json records of the task besides its name."""
        return {}

    # --- saved models -----------------------------------------------------------------

    def compile_saved(self) -> None:
        """Compile a saved model with the task's own loss and metrics, whatever it was saved with."""
        self.model.compile(
            loss=self.own_loss(), loss_weights=self.loss_weights(), **self.compiled_metrics(self.own_metrics())
        )

    def evaluate_split(self, split, examples=None) -> dict:
        """`evaluate`'s answer on a prepared data.Split (arrays in memory, its sample
        weights too): the examples (`examples`, else the split's) and the test metrics."""
        self.model.compile(loss=self.loss(), **self.compiled_metrics(self.metrics()))
        results = self.model.evaluate(
            split.x,
            split.y,
            sample_weight=split.weights,
            batch_size=self.record.get("batch_size", 32),
            verbose=0,
            return_dict=True,
        )
        return {"examples": examples or len(split), **{f"test_{k}": float(v) for k, v in results.items()}}

    def evaluate(self, model_path, data_arg, label=None) -> dict:
        raise NotImplementedError

    def predict(self, model_path, data_arg, label=None, top_k=1, threshold=None) -> Predictions:
        """What the model predicts for `data_arg`; `threshold` only where the task `takes_threshold`."""
        raise NotImplementedError


class Predictions:
    """What predict writes: CSV rows under a header, or files into a folder."""

    def __init__(self, header=None, rows=None, files=None):
        self.header, self.rows, self.files = header, rows, files  # files: {name: bytes}


def output_rank(model) -> int:
    return len(model.outputs[0].shape)


def wrong_model(message: str) -> SpecError:
    """A task the model cannot learn: a SpecError at training.task."""
    return SpecError(message, path=("training", "task"))


def output_kind(activation: str | None, units: int) -> str:
    """What an output with one value or set per example learns, by its
    activation and units: sigmoid, binary (one unit) or multi_label (several);
    softmax, classification; anything else, regression."""
    if activation == "sigmoid":
        return "binary" if units == 1 else "multi_label"
    return "classification" if activation == "softmax" else "regression"


def flat_task(model) -> str:
    """The task of a model with one output per example: sigmoid units, binary
    (one) or multi_label (several); other units, classification (several) or
    regression (one)."""
    from ...backend import keras as _keras

    units = model.outputs[0].shape[-1] or 1
    if getattr(model.layers[-1], "activation", None) is _keras().activations.sigmoid:
        return "binary" if units == 1 else "multi_label"
    return "classification" if units > 1 else "regression"


def probabilities(model) -> bool:
    """Whether the model's output layer ends in a softmax (probabilities, not logits)."""
    from ...backend import keras as _keras

    return getattr(model.layers[-1], "activation", None) is _keras().activations.softmax
