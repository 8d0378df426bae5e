"""Evaluating and predicting with a saved model, on the data split its
training run used (read from run.json beside it)."""

from __future__ import annotations

import json
import os

import numpy as np

from ..backend import keras as _keras
from ..errors import SpecError
from ..spec.training import Preprocessing
from . import batching
from . import data as data_module


def run_settings(model_path) -> dict:
    """The run.json of the run that wrote `model_path`, or {}."""
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), "run.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    return {}


def load_trained(model_path):
    keras = _keras()
    if not os.path.exists(model_path):
        raise SpecError(f"{model_path}: no such model file")
    try:
        return keras.saving.load_model(model_path, safe_mode=True)
    except Exception as err:          # noqa: BLE001 - a bad file is the user's input, not a bug
        raise SpecError(f"{model_path}: cannot load the model: {str(err).splitlines()[0]}") from None


def _data_for(model, model_path, data_arg, whole, label=None):
    """(data, input shape, preprocessing, batch size) for a saved model."""
    settings = run_settings(model_path)
    shape = tuple(model.inputs[0].shape[1:])
    data = data_module.load(data_arg, shape, model.inputs[0].dtype,
                            validation_split=0 if whole else settings.get("validation_split", 0.1),
                            test_split=0 if whole else settings.get("test_split", 0.15),
                            seed=settings.get("seed", 0), vocabulary=data_module.load_vocabulary(model_path),
                            label=label or settings.get("label"))
    return data, shape, Preprocessing(rescale=settings.get("rescale")), settings.get("batch_size", 32)


def evaluate(model_path, data_arg, label=None) -> dict:
    """Metrics of a saved model on the data's test split (the same split as its
    training run), or on all of it if it has none."""
    model = load_trained(model_path)
    data, shape, preprocessing, batch_size = _data_for(model, model_path, data_arg, whole=False, label=label)
    split = data.test or data.train
    ds = batching.dataset(split, data, shape, batch_size, training=False, preprocessing=preprocessing, seed=0)
    results = model.evaluate(ds, return_dict=True, verbose=0)
    return {"examples": int(len(split.y)), **{f"test_{k}": float(v) for k, v in results.items()}}


def predict(model_path, data_arg, label=None):
    """(rows, header): one row per example of the whole data, in file order."""
    model = load_trained(model_path)
    data, shape, preprocessing, batch_size = _data_for(model, model_path, data_arg, whole=True, label=label)
    order = np.argsort(data.train.index)             # back to the order of the file or folder
    ds = batching.dataset(data.train, data, shape, batch_size, training=False, preprocessing=preprocessing, seed=0)
    outputs = np.asarray(model.predict(ds, verbose=0))[order]
    truth = data.train.y[order]
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        names = data.class_names or [str(i) for i in range(outputs.shape[1])]
        best = outputs.argmax(axis=1)
        rows = [(i, names[b] if b < len(names) else b, f"{outputs[i, b]:.6f}", names[t] if t < len(names) else t)
                for i, (b, t) in enumerate(zip(best, truth))]
        return rows, ("index", "predicted", "probability", "label")
    values = outputs.reshape(len(outputs), -1)[:, 0]
    return [(i, f"{v:.6f}", t) for i, (v, t) in enumerate(zip(values, truth))], ("index", "prediction", "label")
