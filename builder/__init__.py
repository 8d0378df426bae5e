"""Declarative Keras models from YAML specs.

    import builder
    model = builder.build("specs/lenet5.yaml", overrides={"defaults.activation": "prelu"})

The stages, each a sub-package: `spec` (reading, includes, overrides, the
language's models, graph expansion; no Keras), `keras` (the layer registry,
custom layers, model assembly, costs), `training` (data, batching, the training
run, evaluation, sweeps) and `io` (export, import, plots, the JSON Schema,
generated docs). Loading and validating a spec does not import Keras; building does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

from .catalogue.registry import LAYERS, register_layer
from .errors import (
    BuilderError,
    DataError,
    DependencyError,
    DeviceError,
    FlagError,
    ModelError,
    RunFolderError,
    SpecError,
)
from .spec.load import load_spec, validate
from .spec.overrides import read_values

__all__ = [
    "BuilderError",
    "DataError",
    "DependencyError",
    "DeviceError",
    "FlagError",
    "ModelError",
    "RunFolderError",
    "SpecError",
    "build",
    "build_model",
    "describe",
    "evaluate",
    "load_spec",
    "predict",
    "register_layer",
    "search",
    "sweep",
    "to_spec",
    "train",
    "validate",
    "LAYERS",
]
__version__ = "0.1.0"

if TYPE_CHECKING:  # for type checkers only: importing these costs Keras's start-up
    import keras
    import numpy as np
    import tensorflow as tf

    from .spec.language import Spec
    from .training.run import Run

PathLike = Union[str, "os.PathLike[str]"]
Overrides = Mapping[str, Any]


def build_model(spec: Spec) -> keras.Model:
    """A keras.Model from a loaded Spec (or an expanded graph)."""
    from .keras.assemble import build_model as _build_model

    return _build_model(spec)


def build(
    path: PathLike | None = None,
    *,
    text: str | None = None,
    data: dict | None = None,
    overrides: Overrides | None = None,
    limits: Mapping[str, int] | None = None,
    weights: PathLike | dict | None = None,
    scale: str | int | None = None,
    compile: bool = False,
) -> keras.Model:
    """Load, check and build a spec into a keras.Model; `overrides` sets
    values by path ({'training.optimizer.adam.learning_rate': '0.01'}, a value
    given as text read as YAML, as `--set` reads it). It starts from the
    spec's `weights:`, or from `weights` (a .keras or .weights.h5 file, or
    {'path': ..., 'skip_mismatch': True}) where given; `scale` chooses one
    of the spec's `scales:` (`builder.build("resnet", scale=101)`). With
    `compile=True` it is compiled as `train` compiles it — the spec's
    optimizer, its task's loss and metrics — ready for `model.fit`."""
    from .keras.assemble import build

    spec = load_spec(
        os.fspath(path) if path is not None else None,
        text=text,
        data=data,
        overrides=overrides,
        limits=limits,
        scale=scale,
    )
    model = build(spec, weights=weights)
    if compile:
        from .training.compile import compile_spec

        compile_spec(model, spec)
    return model


def describe(model: keras.Model) -> dict:
    """A built model's facts: name, params, trainable_params, layers, input and
    output shapes, and its multiply-accumulates (total and by layer)."""
    from .keras.describe import facts

    return facts(model)


def sweep(
    path: PathLike,
    data: PathLike | tuple,
    swept: Mapping[str, Sequence],
    *,
    fixed: Overrides | None = None,
    out: PathLike | None = None,
    **options: Any,
) -> list[dict]:
    """Train one variant of the spec per combination of `swept` values
    ({'dotted.path': [v1, v2, ...]}); return the comparison rows (training.sweep)."""
    from .training.sweep import sweep as _sweep

    return _sweep(_variants(path, fixed, options), data, swept, out=out, **options)


def search(
    path: PathLike,
    data: PathLike | tuple,
    *,
    algorithm: str = "random",
    trials: int = 10,
    fixed: Overrides | None = None,
    out: PathLike | None = None,
    **options: Any,
) -> tuple[list[dict], str]:
    """Search the spec's `search:` space with KerasTuner (`random`, `bayesian`
    or `hyperband`): (trial rows best first, the path of the best spec)."""
    from .training.search import search as _search

    return _search(_variants(path, fixed, options), data, algorithm=algorithm, trials_count=trials, out=out, **options)


def _variants(path, fixed, options: dict):
    """The spec a sweep or search varies; `options` gives up how its variants are loaded."""
    from .training.trials import Variants

    return Variants(path, dict(fixed or {}), options.pop("mixed_precision", False), options.pop("limits", None))


def to_spec(model: keras.Model, name: str | None = None) -> str:
    """A readable YAML spec of a Sequential or Functional Keras model of
    registered layers, which builds back into the same network."""
    from .io.keras_import import to_spec as _to_spec

    return _to_spec(model, name)


def train(
    spec: PathLike | Spec,
    data: PathLike | tuple[np.ndarray, np.ndarray] | tf.data.Dataset,
    *,
    out: PathLike | None = None,
    overrides: Overrides | None = None,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    weights: PathLike | None = None,
    resume: bool = False,
    verbose: int | str = "auto",
    label: str | None = None,
    vocabulary: PathLike | None = None,
) -> Run:
    """Train a spec (a path, or a Spec from load_spec) on `data`: 'digits', a
    path (.npz, .csv, .tfrecord, a folder of class folders, a folder of images/
    and masks/, a text file), 'tfds:NAME', 'hf:NAME', an `(x, y)` pair of
    NumPy arrays, or a tf.data.Dataset of (x, y) pairs, batched or not, in the
    same order each time it is read; `callbacks` are Keras callbacks added to
    the run's own; `vocabulary` a text task's vocabulary file (as `--vocabulary`). Writes the
    run folder `out` (default runs/SPEC_NAME) as `cli.py train` does and
    returns a Run: `.model`, `.history`, `.metrics`, `.dir`."""
    from .training import run
    from .training.folder import default_out
    from .training.settings import RunSettings

    loaded: Any = spec
    if not isinstance(spec, spec_types()):
        loaded = run.load_for_training(os.fspath(spec), overrides or {})  # type: ignore[arg-type]
    elif overrides:
        raise TypeError("overrides apply to a spec path; a loaded Spec already has its own")
    out = os.fspath(out) if out else default_out(loaded.name, resume)
    settings = RunSettings.make(
        loaded,
        data,
        out,
        epochs=epochs,
        batch_size=batch_size,
        resume=resume,
        verbose=verbose,
        label=label,
        weights=weights,
        vocabulary=os.fspath(vocabulary) if vocabulary is not None else None,
        callbacks=callbacks,
        record={"command": None, "overrides": read_values(overrides or {})},
    )
    return run.train_run(loaded, settings)


def spec_types():
    from .spec.language import Spec

    return (Spec,)


def evaluate(
    model_path: PathLike,
    data: PathLike | tuple[np.ndarray, np.ndarray] | tf.data.Dataset,
    *,
    label: str | None = None,
    weights: PathLike | None = None,
) -> dict:
    """A saved model's metrics on the test split of `data` (as `cli.py evaluate`),
    or on all of an `(x, y)` pair of arrays (a dict by input or output name
    for several) or a tf.data.Dataset of (x, y) pairs, batched or not,
    compiled for its run's task; arrays are scaled as the run scaled its
    training data (a dataset is used as it is)."""
    from .training import saved

    if saved.is_arrays(data):
        if weights is not None or label is not None:
            raise TypeError("weights= and label= apply to data read from a path")
        return saved.evaluate_arrays(model_path, *(data if isinstance(data, tuple) else (data,)))
    return saved.evaluate(model_path, data, label=label, weights=weights)


def predict(
    model_path: PathLike,
    data: PathLike | np.ndarray | Mapping[str, np.ndarray] | tf.data.Dataset,
    *,
    label: str | None = None,
    top_k: int = 1,
    threshold: float | None = None,
) -> Any:
    """(rows, header) of a saved model's predictions on `data` (as `cli.py predict`);
    for a segmentation model, ({file name: PNG bytes of its mask}, None), as `cli.py predict -o` writes them.
    On data in memory — NumPy arrays, a dict of them by input name, a tf.data.Dataset — the model's
    outputs, as Keras's `predict` returns them (arrays scaled as the run scaled its training data)."""
    from .training import saved

    if saved.is_arrays(data):
        return saved.predict_arrays(model_path, data)
    predicted = saved.predict(model_path, data, label=label, top_k=top_k, threshold=threshold)
    if predicted.files is not None:
        return predicted.files, None
    return predicted.rows, predicted.header
