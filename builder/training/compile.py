"""What `model.compile` gets from a spec's training section: the optimizer
(with a learning-rate schedule), the loss and metrics for the task the
output layer implies, and the callbacks the spec names."""

from __future__ import annotations

from ..backend import keras as _keras
from ..errors import SpecError
from ..spec.training import CALLBACK_CLASSES, named

DEFAULT_LOSS = {"classifier": "sparse_categorical_crossentropy", "binary": "binary_crossentropy",
                "regression": "mean_squared_error"}
DEFAULT_METRICS = {"classifier": ["accuracy"], "binary": ["accuracy"], "regression": ["mae"]}


def make_optimizer(config):
    keras = _keras()
    name, args = named(config)
    if isinstance(args.get("learning_rate"), dict):
        schedule, schedule_args = named(args["learning_rate"])
        args["learning_rate"] = keras.optimizers.schedules.deserialize(
            {"class_name": "".join(p.capitalize() for p in schedule.split("_")), "config": schedule_args})
    try:
        return keras.optimizers.get({"class_name": name, "config": args})
    except (ValueError, TypeError) as err:
        raise SpecError(f"optimizer {name!r}: {err}", path=("training", "optimizer")) from None


def task_of(spec) -> str:
    """'classifier', 'binary' or 'regression', from the output layer."""
    if spec.output is None:
        return "regression"
    activation = spec.output.get("activation")
    if activation == "softmax":
        return "classifier"
    if activation == "sigmoid" and spec.output.get("units") == 1:
        return "binary"
    return "regression"


def compile_model(model, spec, optimizer=None):
    """Compile for the spec's task; `optimizer` (a spec value) replaces the training section's."""
    config = spec.training
    task = task_of(spec)
    model.compile(optimizer=make_optimizer(optimizer or config.optimizer), loss=config.loss or DEFAULT_LOSS[task],
                  metrics=config.metrics if config.metrics is not None else DEFAULT_METRICS[task])


def make_callbacks(config):
    keras = _keras()
    callbacks = []
    for item in config.callbacks:
        name, args = named(item)
        try:
            callbacks.append(getattr(keras.callbacks, CALLBACK_CLASSES[name])(**args))
        except TypeError as err:
            raise SpecError(f"callback {name}: {err}", path=("training", "callbacks")) from None
    return callbacks
