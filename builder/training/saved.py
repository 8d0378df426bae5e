"""Evaluating and predicting with a saved model, on the data split its
training run used (read from run.json beside it)."""

from __future__ import annotations

import os
import zipfile

import numpy as np

from ..backend import keras as _keras
from ..errors import DataError, FlagError, first_line
from ..files import not_regular
from ..keras import layers as _layers  # noqa: F401  (builder's own layers, which saved models may hold)
from . import data as data_module
from . import tasks


def load_trained(model_path):
    keras = _keras()
    if not os.path.exists(model_path):
        raise FlagError(f"{model_path}: no such model file")
    what = not_regular(model_path)
    if what:
        raise DataError(model_path, f"it is {what}, not a .keras file")
    if not zipfile.is_zipfile(model_path):
        raise DataError(model_path, "not a .keras file: it is not a zip archive (truncated or corrupt?)")
    try:
        return keras.saving.load_model(model_path, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - a bad file is the user's input, not a bug
        raise DataError(model_path, f"cannot load the model: {first_line(err)}") from None


def evaluate(model_path, data_arg, label=None, weights=None, report=None) -> dict:
    """Metrics of a saved model on the data's test split (the same split as its
    training run), or on all of it if it has none; with `weights` (a .keras or
    .weights.h5 file of the same network, strictly matched) in place of its own."""
    model = load_trained(model_path)
    if weights is not None:
        from ..keras import weights as starting_weights

        loaded = starting_weights.load(model, os.fspath(weights))
        if report is not None:
            report(loaded.lines())
    return tasks.of_saved(model, data_module.saved_record(model_path)).evaluate(model_path, data_arg, label)


def predict(model_path, data_arg, label=None, top_k=1, threshold=None) -> tasks.Predictions:
    """What the saved model's task predicts for every example of `data_arg`:
    CSV rows, or files (segmentation's masks); `threshold`: a multi-label model's."""
    model = load_trained(model_path)
    task = tasks.of_saved(model, data_module.saved_record(model_path))
    if threshold is not None and not task.takes_threshold:
        raise FlagError(f"--threshold: {model_path} was trained for {task.name}; a multi_label model takes it")
    return task.predict(model_path, data_arg, label, top_k, threshold)


def is_arrays(data) -> bool:
    """Whether `data` is data in memory (NumPy arrays, a dict of them, a tf.data.Dataset), not a path or a name."""
    return not isinstance(data, (str, os.PathLike))


def _scaled(x, record: dict):
    """Arrays scaled as the run scaled its training data (run.json's `rescale`); a dict or a dataset as it is."""
    scale = record.get("rescale")
    if isinstance(x, np.ndarray) and x.dtype.kind in "biuf" and scale not in (None, 1, 1.0):
        return x.astype("float32") * scale
    return x


def predict_arrays(model_path, x):
    """The saved model's outputs for `x` (NumPy arrays, a dict of them by input
    name, or a tf.data.Dataset), as Keras's `predict` returns them."""
    model = load_trained(model_path)
    record = data_module.saved_record(model_path)
    return model.predict(_scaled(x, record), batch_size=record.get("batch_size", 32), verbose=0)


def evaluate_arrays(model_path, x, y=None) -> dict:
    """A saved model's loss and metrics on arrays `x` and labels `y` (a dict by output name for several), or
    on a tf.data.Dataset `x` of (x, y) pairs, batched or not (used as it is, unscaled), as `evaluate` reports
    them, compiled for the task its run trained."""
    model = load_trained(model_path)
    record = data_module.saved_record(model_path)
    task = tasks.of_saved(model, record)
    task.compile_saved()
    batch_size = record.get("batch_size", 32)
    if y is None:
        x = _batched(x, model, batch_size)
        results = model.evaluate(x, verbose=0, return_dict=True)
        count = sum(len(np.asarray(_keras().tree.flatten(labels)[0])) for labels in x.map(lambda _, y: y))
    else:
        results = model.evaluate(_scaled(x, record), y, batch_size=batch_size, verbose=0, return_dict=True)
        count = len(next(iter(y.values())) if isinstance(y, dict) else y)
    return {"examples": int(count), **{f"test_{k}": float(v) for k, v in results.items()}}


def _batched(dataset, model, batch_size):
    """A dataset of (x, y) pairs in batches: as given, or batched by the run's batch size where it yields examples."""
    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise DataError("the tf.data.Dataset", f"a dataset to evaluate on yields (x, y) pairs; this one yields {spec}")
    rank = _keras().tree.flatten(spec[0])[0].shape.rank
    return dataset.batch(batch_size) if rank == len(model.inputs[0].shape) - 1 else dataset


def generate(model_path, prompt: str, max_length: int | None = None, sampler: str = "greedy", seed=None) -> str:
    """`prompt` continued by a saved language model (a causal_lm run's, its tokenizer beside it)."""
    model = load_trained(model_path)
    task = tasks.of_saved(model, data_module.saved_record(model_path))
    if not hasattr(task, "generate"):
        raise FlagError(f"{model_path} was trained for {task.name}, not as a language model (training.task: causal_lm)")
    return task.generate(model_path, prompt, max_length, sampler, seed)
