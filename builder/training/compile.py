"""What `model.compile` gets from a spec's training section: the optimizer
(with a learning-rate schedule), the loss and metrics of the run's task
(tasks/), and the callbacks the spec names."""

from __future__ import annotations

import math
import os
import warnings

from ..backend import keras as _keras
from ..errors import SpecError, SpecNote, SpecWarning, first_line
from ..spec.training import CALLBACK_CLASSES, CALLBACK_PATHS, named


def make_optimizer(config, path=("training", "optimizer")):
    """The Keras optimizer a spec value names; what Keras refuses is a SpecError at `path`."""
    keras = _keras()
    name, args = named(config)
    if isinstance(args.get("learning_rate"), dict):
        schedule_path = (*path, name, "learning_rate") if isinstance(config, dict) else path
        args["learning_rate"] = make_schedule(keras, args["learning_rate"], schedule_path)
    try:
        return keras.optimizers.get({"class_name": name, "config": args})
    except (ValueError, TypeError) as err:
        raise SpecError(f"optimizer {name!r}: {err}", path=path) from None


def compile_model(model, spec, task, optimizer=None, steps_per_execution=1):
    """Compile for `task` (a tasks.Task: its loss and metrics); `optimizer` (a
    spec value) replaces the training section's."""
    config = spec.training
    model.compile(
        optimizer=make_optimizer(optimizer or config.optimizer),
        loss=task.loss(),
        loss_weights=task.loss_weights(),
        **task.compiled_metrics(task.metrics()),
        steps_per_execution=steps_per_execution,
        jit_compile=config.jit_compile,
    )
    if config.jit_compile is True and not model.jit_compile:  # Keras turned it down, with a warning we hide
        note = SpecNote(
            "true, but Keras compiles this model without XLA: a layer does not support it, or "
            "TensorFlow's op determinism is on (an earlier run in this process turned it on)"
        )
        warnings.warn(spec.source.locate(note, ("training", "jit_compile")).render(), SpecWarning, stacklevel=2)


def compile_spec(model, spec) -> None:
    """`model`, built from `spec`, compiled as a run of the spec compiles it:
    the spec's optimizer, its task's loss and metrics (builder.build(compile=True))."""
    from . import tasks

    compile_model(model, spec, tasks.of(spec, model))


AUTO_STEPS_PER_EXECUTION = 32


def steps_per_execution(config, examples: int, batch_size: int, distribute: str = "none") -> int:
    """Training steps per call of the compiled train function. A small
    model's step is shorter than the Python that Keras runs around each call,
    so `auto` runs 32 steps per call (one epoch's, where it has fewer): 1.2x
    the samples per second of Keras's default 1 for LeNet-5 on a 2-core CPU
    (docs/benchmarks.md), with the same weights. Callbacks still see every
    epoch; progress bars move every 32 steps. Under a distribution strategy
    (--distribute) and on PyTorch, `auto` is 1."""
    if config.steps_per_execution != "auto":
        return config.steps_per_execution
    if distribute != "none" or _keras().backend.backend() == "torch":
        return 1  # strategies run their own steps; Keras's torch trainer runs one per call
    return max(1, min(AUTO_STEPS_PER_EXECUTION, math.ceil(examples / batch_size)))


def make_callbacks(config, run_dir=None, exclude=("tensorboard",)):
    """The spec's callbacks (all but `exclude`, which the run applies to its
    own); file arguments land in RUN/callbacks/."""
    keras = _keras()
    callbacks = []
    for i, item in enumerate(config.callbacks):
        name, args = named(item)
        if name in exclude:
            continue
        args = dict(args)
        if name in CALLBACK_PATHS and CALLBACK_PATHS[name] in args and run_dir is not None:
            folder = os.path.join(run_dir, "callbacks")
            os.makedirs(folder, exist_ok=True)
            args[CALLBACK_PATHS[name]] = os.path.join(folder, args[CALLBACK_PATHS[name]])
        if name == "learning_rate_scheduler":
            args["schedule"] = _epoch_schedule(keras, args["schedule"], ("training", "callbacks", i, name, "schedule"))
        try:
            callbacks.append(getattr(keras.callbacks, CALLBACK_CLASSES[name])(**args))
        except (TypeError, ValueError) as err:
            raise SpecError(f"callback {name}: {err}", path=("training", "callbacks", i)) from None
    return callbacks


def callback_options(config, name) -> dict:
    """The arguments the spec gives a callback the run makes itself (`tensorboard`)."""
    return next((dict(named(item)[1]) for item in config.callbacks if named(item)[0] == name), {})


def make_schedule(keras, value, path):
    """`{cosine_decay: {...}}` -> the Keras learning-rate schedule, made and
    asked for its first rate here, so that what Keras refuses in its arguments
    is a SpecError at `path` before training, not a failure inside a step."""
    name, args = named(value)
    try:
        schedule = getattr(keras.optimizers.schedules, "".join(p.capitalize() for p in name.split("_")))(**args)
        float(schedule(0))
    except Exception as err:  # noqa: BLE001 - a backend's own errors too (TensorFlow's cast of a string)
        raise SpecError(f"learning-rate schedule {name}: {first_line(err)}", path=path) from None
    return schedule


def _epoch_schedule(keras, value, path):
    """A named Keras schedule, counted in epochs, as LearningRateScheduler's function."""
    schedule = make_schedule(keras, value, path)
    return lambda epoch, lr=None: float(schedule(epoch))
