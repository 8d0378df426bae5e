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
from ..spec.training import Preprocessing
from . import batching, tasks, unlabeled
from . import data as data_module
from .checks import check_labels


def run_settings(model_path) -> dict:
    """The run.json of the run that wrote `model_path`, or {}."""
    return data_module.read_beside(model_path, "run.json") or {}


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


def compile_for_its_task(model):
    """Compile a loaded model with one label per example with the loss and
    metrics its task needs, whatever it was saved with (or without)."""
    keras = _keras()
    task = tasks.of_saved(model, {})
    if task.name == "classification":
        probabilities = getattr(model.layers[-1], "activation", None) is keras.activations.softmax
        model.compile(
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities), metrics=["accuracy"]
        )
    else:
        model.compile(loss=task.default_loss, metrics=list(task.default_metrics))
    return model


_CHECKED_AS = {"classification": "classifier", "binary": "binary", "regression": "regression"}


def _check_classes(model, data, model_path):
    task, units = tasks.of_saved(model, {}).name, model.outputs[0].shape[-1] or 1
    classes = data.num_classes
    if task == "classification" and classes and classes > units:
        raise DataError(
            model_path,
            f"the model predicts {units} classes, but {data.name} has {classes} "
            f"({', '.join(map(str, data.class_names[:12]))}{', ...' if classes > 12 else ''})",
        )
    check_labels(data, _CHECKED_AS[task], units)


def _data_for(model, model_path, data_arg, whole, label=None):
    """(data, input shape, preprocessing, batch size) for a saved model."""
    settings = run_settings(model_path)
    shape = tuple(model.inputs[0].shape[1:])
    wanted = data_module.InputDescription(
        shape,
        model.inputs[0].dtype,
        label=label or settings.get("label"),
        vocabulary=data_module.load_vocabulary(model_path),
        tfrecord=_tfrecord(settings),
    )
    seed = settings.get("seed", 0)
    plan = (  # predict reads every example; evaluate the test split its training run made
        data_module.SplitPlan(seed=seed)
        if whole
        else data_module.SplitPlan(settings.get("validation_split", 0.1), settings.get("test_split", 0.15), seed)
    )
    data = data_module.load(data_arg, wanted, plan)
    if whole and data.split_by_folders:
        data = data_module.merged(data)
    _check_classes(model, data, model_path)
    return data, shape, _scaling(settings), settings.get("batch_size", 32)


def _tfrecord(settings):
    """The feature description the run read its TFRecord files with, if any."""
    if not settings.get("tfrecord"):
        return None
    from ..spec.training import TFRecordSettings

    return TFRecordSettings.model_validate(settings["tfrecord"])


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
    return tasks.of_saved(model, run_settings(model_path)).evaluate(model_path, data_arg, label)


def evaluate_labelled(model, model_path, data_arg, label=None) -> dict:
    """evaluate for a model with one label per example (tasks/classification.py)."""
    model = compile_for_its_task(model)
    data, shape, preprocessing, batch_size = _data_for(model, model_path, data_arg, whole=False, label=label)
    split = data.test or data.train
    ds = batching.dataset(split, data, batching.Pipeline(tuple(shape), batch_size, preprocessing), training=False)
    results = model.evaluate(ds, return_dict=True, verbose=0)
    return {"examples": int(len(split.y)), **{f"test_{k}": float(v) for k, v in results.items()}}


def predict(model_path, data_arg, label=None, top_k=1) -> tasks.Predictions:
    """What the saved model's task predicts for every example of `data_arg`:
    CSV rows, or files (segmentation's masks)."""
    model = load_trained(model_path)
    return tasks.of_saved(model, run_settings(model_path)).predict(model_path, data_arg, label, top_k)


def predict_labelled(model, model_path, data_arg, label=None, top_k=1):
    """(rows, header): one row per example, in the order of the file or folder.
    Labeled data keeps its label column; new data without labels (a file, a
    flat folder, a CSV of features) is named by file or line. Classes are
    named as the training data named them (classes.json beside the model)."""
    classes = model.outputs[0].shape[-1] if len(model.outputs[0].shape) == 2 else 1
    if 1 < classes < top_k:  # a CSV row per example: each with as many columns
        raise FlagError(f"--top-k {top_k}: the model predicts {classes} classes; ask for at most {classes}")
    shape = tuple(model.inputs[0].shape[1:])
    settings = run_settings(model_path)
    if unlabeled.is_unlabeled(data_arg, shape):
        data, names = unlabeled.load(data_arg, shape, model.inputs[0].dtype, data_module.load_vocabulary(model_path))
        preprocessing, batch_size = _scaling(settings), settings.get("batch_size", 32)
        truth, first = None, ("input",)
    else:
        data, shape, preprocessing, batch_size = _data_for(model, model_path, data_arg, whole=True, label=label)
        names, truth, first = None, data.train.y, ("index",)
    order = np.argsort(data.train.index)  # back to the order of the file or folder
    steps = batching.Pipeline(tuple(shape), batch_size, preprocessing)
    ds = batching.dataset(data.train, data, steps, training=False)
    outputs = np.asarray(model.predict(ds, verbose=0))[order]
    names = names if names is not None else [str(i) for i in range(len(outputs))]
    classes = saved_classes(model_path) or data.class_names
    truth = truth[order] if truth is not None else None
    return prediction_rows(outputs, names, classes, truth, top_k), prediction_header(first, outputs, truth, top_k)


def _scaling(settings: dict) -> Preprocessing:
    """The scaling of data given to a trained model, as its run.json's
    `new_data_rescale` says (the spec's rescale, 1.0, or null: the data's own,
    images 1/255); a run.json from before that key: the training data's factor."""
    if "new_data_rescale" in settings:
        return Preprocessing(rescale=settings["new_data_rescale"])
    return Preprocessing(rescale=settings.get("rescale"))


def saved_classes(model_path) -> list | None:
    """The class names saved beside a trained model (classes.json), or None."""
    return data_module.read_beside(model_path, "classes.json")


def prediction_header(first, outputs, truth, top_k) -> tuple:
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        ranked = [("predicted", "probability")] + [(f"predicted_{k}", f"probability_{k}") for k in range(2, top_k + 1)]
        columns = tuple(c for pair in ranked for c in pair)
    else:
        columns = ("prediction",)
    return (*first, *columns, *(("label",) if truth is not None else ()))


def prediction_rows(outputs, names, classes, truth, top_k) -> list:
    rows = []
    for i, output in enumerate(outputs):
        if output.ndim == 1 and output.shape[0] > 1:
            best = np.argsort(-output, kind="stable")[:top_k]
            cells = [c for b in best for c in (_class(classes, b), f"{output[b]:.6f}")]
        else:
            cells = [f"{float(np.ravel(output)[0]):.6f}"]
        label = [_class(classes, truth[i]) if classes else truth[i]] if truth is not None else []
        rows.append((names[i], *cells, *label))
    return rows


def _class(classes, index):
    return classes[index] if classes and index < len(classes) else int(index)


def generate(model_path, prompt: str, max_length: int = 32, sampler: str = "greedy", seed=None) -> str:
    """`prompt` continued by a saved language model (a causal_lm run's, its tokenizer beside it)."""
    model = load_trained(model_path)
    task = tasks.of_saved(model, run_settings(model_path))
    if not hasattr(task, "generate"):
        raise FlagError(f"{model_path} was trained for {task.name}, not as a language model (training.task: causal_lm)")
    return task.generate(model_path, prompt, max_length, sampler, seed)
